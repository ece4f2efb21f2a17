//! The scripted model: an OpenAI-compatible provider (the gateway tests' raw upstream) whose
//! n-th chat request gets the n-th scripted turn, streamed byte for byte as OpenAI streams
//! (`data:` chunks, tool-call fragments, a usage chunk, `[DONE]`).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::gateway::upstream::{Reply, Upstream};

/// One answer of the model.
#[derive(Debug, Clone)]
pub enum Turn {
    /// Tool calls with JSON arguments.
    Tools(Vec<(&'static str, Value)>),
    /// One tool call with these exact argument bytes (malformed JSON included).
    RawTool(&'static str, &'static str),
    /// A text answer, streamed in a few chunks.
    Text(&'static str),
    /// Some text, then nothing: the stream stays open.
    Hang(&'static str),
    /// Tool calls built at run time (a model that reads the conversation).
    Calls(Vec<(String, Value)>),
    /// A text answer built at run time.
    Say(String),
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let c = json!({
        "id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 1764230400,
        "model": "scripted", "system_fingerprint": "fp_scripted",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
    });
    format!("data: {c}\n\n")
}

fn usage(prompt: u64, completion: u64) -> String {
    let c = json!({
        "id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 1764230400,
        "model": "scripted", "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                  "total_tokens": prompt + completion}
    });
    format!("data: {c}\n\n")
}

/// The SSE reply of one turn.
pub fn reply(turn: &Turn, n: usize) -> Reply {
    let mut chunks = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    let tools = |calls: Vec<(String, String)>| {
        let mut out = Vec::new();
        for (i, (name, args)) in calls.into_iter().enumerate() {
            out.push(chunk(
                json!({"tool_calls": [{"index": i, "id": format!("call_{n}_{i}"), "type": "function",
                        "function": {"name": name, "arguments": ""}}]}),
                None,
            ));
            // Arguments arrive in fragments, as OpenAI sends them.
            let mid = args.len() / 2;
            let mid = (0..=mid)
                .rev()
                .find(|m| args.is_char_boundary(*m))
                .unwrap_or(0);
            for part in [&args[..mid], &args[mid..]] {
                out.push(chunk(
                    json!({"tool_calls": [{"index": i, "function": {"arguments": part}}]}),
                    None,
                ));
            }
        }
        out.push(chunk(json!({}), Some("tool_calls")));
        out
    };
    match turn {
        Turn::Tools(calls) => chunks.extend(tools(
            calls
                .iter()
                .map(|(name, args)| ((*name).to_owned(), args.to_string()))
                .collect(),
        )),
        Turn::RawTool(name, raw) => {
            chunks.extend(tools(vec![((*name).to_owned(), (*raw).to_owned())]))
        }
        Turn::Calls(calls) => chunks.extend(tools(
            calls
                .iter()
                .map(|(name, args)| (name.clone(), args.to_string()))
                .collect(),
        )),
        Turn::Text(text) => say(&mut chunks, text),
        Turn::Say(text) => say(&mut chunks, text),
        Turn::Hang(text) => {
            chunks.push(chunk(json!({"content": text}), None));
            return Reply::sse(chunks).hang();
        }
    }
    chunks.push(usage(100, 20));
    chunks.push("data: [DONE]\n\n".into());
    Reply::sse(chunks).gap(Duration::from_millis(5))
}

/// A text answer in chunks of four words, then `stop`.
fn say(chunks: &mut Vec<String>, text: &str) {
    let words: Vec<&str> = text.split_inclusive(' ').collect();
    for part in words.chunks(4) {
        chunks.push(chunk(json!({"content": part.concat()}), None));
    }
    chunks.push(chunk(json!({}), Some("stop")));
}

/// Starts a model that plays `turns` in order (the last one repeats).
pub async fn start(turns: Vec<Turn>) -> Upstream {
    Upstream::start(script(turns)).await
}

pub fn script(turns: Vec<Turn>) -> crate::gateway::upstream::Script {
    Arc::new(move |_req, n| {
        let turn = &turns[n.min(turns.len() - 1)];
        reply(turn, n)
    })
}
