//! The OpenAI Chat Completions wire format, as spoken by OpenAI and every compatible server
//! (vLLM, Ollama `/v1`, llama.cpp server, LocalAI, LiteLLM, Azure OpenAI).
//!
//! Quirks handled by [`StreamDecoder`], each seen in the wild:
//! - a tool call arriving whole in one chunk (id, name and all arguments at once);
//! - parallel tool calls all sent with `index: 0` and told apart only by their `id`;
//! - tool-call deltas without an `id` at all (continuations, or servers that never send one);
//! - `finish_reason: "stop"` although tool calls were made (normalized to `tool_calls`);
//! - usage in a last chunk with empty `choices`, or not at all;
//! - `data: {"error": …}` in the middle of a stream.

use serde_json::{Value, json};

use super::super::chat::{ChatEvent, ChatRequest, FinishReason};

/// The request body for `model` (the provider's model id).
pub fn request_body(req: &ChatRequest, model: &str, max_tokens: u64, stream: bool) -> Value {
    let mut body = json!({
        "model": model,
        "messages": req.messages,
        "max_tokens": max_tokens,
        "stream": stream,
    });
    if stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    if !req.tools.is_empty() {
        body["tools"] = Value::Array(
            req.tools
                .iter()
                .map(|t| {
                    json!({"type": "function", "function": {
                        "name": t.name, "description": t.description, "parameters": t.parameters}})
                })
                .collect(),
        );
    }
    if let Some(choice) = &req.tool_choice {
        body["tool_choice"] = choice.clone();
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(p) = req.top_p {
        body["top_p"] = json!(p);
    }
    if !req.stop.is_empty() {
        body["stop"] = json!(req.stop);
    }
    body
}

fn finish_reason(s: &str) -> FinishReason {
    match s {
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

fn upstream_error(v: &Value) -> Option<String> {
    let e = v.get("error")?;
    Some(
        e["message"]
            .as_str()
            .or_else(|| e.as_str())
            .unwrap_or("the provider reported an error")
            .chars()
            .take(300)
            .collect(),
    )
}

fn usage_of(v: &Value) -> Option<ChatEvent> {
    let u = v.get("usage").filter(|u| u.is_object())?;
    Some(ChatEvent::Usage {
        input: u["prompt_tokens"].as_u64().unwrap_or(0),
        output: u["completion_tokens"].as_u64().unwrap_or(0),
    })
}

/// Turns a stream's `data:` payloads into events.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    /// Our tool-call slots: (upstream index, id).
    slots: Vec<(u64, String)>,
    finish: Option<FinishReason>,
    done: bool,
}

impl StreamDecoder {
    /// Whether the stream reached its end (`[DONE]`, or a finish reason).
    pub fn complete(&self) -> bool {
        self.done || self.finish.is_some()
    }

    /// The final event once the stream ended.
    pub fn finish(&mut self) -> ChatEvent {
        let reason = self.finish.unwrap_or(FinishReason::Stop);
        // Quirk: "stop" although the model called tools.
        if !self.slots.is_empty() && reason == FinishReason::Stop {
            ChatEvent::Finish(FinishReason::ToolCalls)
        } else {
            ChatEvent::Finish(reason)
        }
    }

    /// One `data:` payload. `Ok(true)` in the second position: `[DONE]` seen.
    pub fn data(&mut self, data: &str) -> Result<(Vec<ChatEvent>, bool), String> {
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok((Vec::new(), true));
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|e| format!("the provider sent a chunk that is not JSON: {e}"))?;
        if let Some(message) = upstream_error(&v) {
            return Err(message);
        }
        let mut out = Vec::new();
        if let Some(choice) = v["choices"].as_array().and_then(|c| c.first()) {
            let delta = &choice["delta"];
            if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
                out.push(ChatEvent::TextDelta(text.to_owned()));
            }
            if let Some(calls) = delta["tool_calls"].as_array() {
                for call in calls {
                    self.tool_call(call, &mut out);
                }
            }
            if let Some(reason) = choice["finish_reason"].as_str() {
                self.finish = Some(finish_reason(reason));
            }
        }
        if let Some(usage) = usage_of(&v) {
            out.push(usage);
        }
        Ok((out, false))
    }

    fn tool_call(&mut self, call: &Value, out: &mut Vec<ChatEvent>) {
        let upstream = call["index"].as_u64().unwrap_or(0);
        let id = call["id"].as_str().filter(|s| !s.is_empty());
        let name = call["function"]["name"].as_str().unwrap_or("");
        let slot = match id {
            Some(id) => match self.slots.iter().position(|(_, s)| s == id) {
                Some(slot) => slot,
                None => self.start(upstream, id.to_owned(), name, out),
            },
            None => match self.slots.iter().rposition(|(u, _)| *u == upstream) {
                Some(slot) => slot,
                None => {
                    let id = format!("call_{}_{}", upstream, self.slots.len());
                    self.start(upstream, id, name, out)
                }
            },
        };
        if let Some(args) = call["function"]["arguments"]
            .as_str()
            .filter(|a| !a.is_empty())
        {
            out.push(ChatEvent::ToolCallArgs {
                index: slot,
                fragment: args.to_owned(),
            });
        }
    }

    fn start(&mut self, upstream: u64, id: String, name: &str, out: &mut Vec<ChatEvent>) -> usize {
        self.slots.push((upstream, id.clone()));
        let index = self.slots.len() - 1;
        out.push(ChatEvent::ToolCallStart {
            index,
            id,
            name: name.to_owned(),
        });
        index
    }
}

/// A whole (non-streaming) response as events.
pub fn decode_response(v: &Value) -> Result<Vec<ChatEvent>, String> {
    if let Some(message) = upstream_error(v) {
        return Err(message);
    }
    let choice = v["choices"]
        .as_array()
        .and_then(|c| c.first())
        .ok_or("the provider's answer has no choices")?;
    let message = &choice["message"];
    let mut out = Vec::new();
    if let Some(text) = message["content"].as_str().filter(|t| !t.is_empty()) {
        out.push(ChatEvent::TextDelta(text.to_owned()));
    }
    let mut calls = 0;
    for (index, call) in message["tool_calls"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        calls += 1;
        out.push(ChatEvent::ToolCallStart {
            index,
            id: call["id"]
                .as_str()
                .map_or_else(|| format!("call_{index}"), str::to_owned),
            name: call["function"]["name"].as_str().unwrap_or("").to_owned(),
        });
        let args = &call["function"]["arguments"];
        let args = args
            .as_str()
            .map_or_else(|| args.to_string(), str::to_owned);
        out.push(ChatEvent::ToolCallArgs {
            index,
            fragment: args,
        });
    }
    if let Some(usage) = usage_of(v) {
        out.push(usage);
    }
    let reason = finish_reason(choice["finish_reason"].as_str().unwrap_or("stop"));
    out.push(ChatEvent::Finish(
        if calls > 0 && reason == FinishReason::Stop {
            FinishReason::ToolCalls
        } else {
            reason
        },
    ));
    Ok(out)
}

/// Model ids from `GET /models`.
pub fn model_ids(v: &Value) -> Vec<String> {
    v["data"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|m| m["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&str]) -> Vec<ChatEvent> {
        let mut d = StreamDecoder::default();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(d.data(c).unwrap().0);
        }
        assert!(d.complete());
        out.push(d.finish());
        out
    }

    #[test]
    fn parallel_calls_with_index_zero_are_told_apart_by_id() {
        let events = run(&[
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"x","arguments":""}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"n\":"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"b","function":{"name":"y","arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#,
            "[DONE]",
        ]);
        assert_eq!(
            events,
            vec![
                ChatEvent::ToolCallStart {
                    index: 0,
                    id: "a".into(),
                    name: "x".into()
                },
                ChatEvent::ToolCallArgs {
                    index: 0,
                    fragment: "{\"n\":".into()
                },
                ChatEvent::ToolCallArgs {
                    index: 0,
                    fragment: "1}".into()
                },
                ChatEvent::ToolCallStart {
                    index: 1,
                    id: "b".into(),
                    name: "y".into()
                },
                ChatEvent::ToolCallArgs {
                    index: 1,
                    fragment: "{}".into()
                },
                ChatEvent::Finish(FinishReason::ToolCalls),
            ]
        );
    }

    #[test]
    fn errors_and_garbage_are_reported() {
        let mut d = StreamDecoder::default();
        assert!(d.data("{not json").is_err());
        assert!(d.data(r#"{"error":{"message":"overloaded"}}"#).is_err());
        assert!(!d.complete());
    }
}
