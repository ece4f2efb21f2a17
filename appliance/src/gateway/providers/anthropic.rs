//! The Anthropic Messages API (`POST /v1/messages`, `anthropic-version: 2023-06-01`).
//!
//! Requests are translated from the OpenAI shape: system messages become `system`, assistant
//! tool calls become `tool_use` blocks, `tool` messages become `tool_result` blocks of one user
//! turn, `tool_choice` maps to `auto`/`any`/`none`/`tool`. The stream decoder handles
//! `message_start` (input usage), `content_block_start` (text or `tool_use`),
//! `content_block_delta` (`text_delta`, `input_json_delta` fragments), `message_delta` (stop
//! reason, output usage), `message_stop`, `ping` (ignored) and `error` events.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::super::chat::{ChatEvent, ChatRequest, FinishReason};

/// The Messages API version sent in `anthropic-version`.
pub const API_VERSION: &str = "2023-06-01";

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// The request body for `model`.
pub fn request_body(req: &ChatRequest, model: &str, max_tokens: u64, stream: bool) -> Value {
    let mut system = Vec::new();
    let mut messages: Vec<Value> = Vec::new();
    for m in &req.messages {
        match m["role"].as_str().unwrap_or("") {
            "system" | "developer" => system.push(text_of(&m["content"])),
            "user" => messages.push(json!({"role": "user", "content": text_of(&m["content"])})),
            "assistant" => {
                let mut blocks = Vec::new();
                let text = text_of(&m["content"]);
                if !text.is_empty() {
                    blocks.push(json!({"type": "text", "text": text}));
                }
                for call in m["tool_calls"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                {
                    let args = call["function"]["arguments"].as_str().unwrap_or("{}");
                    let input: Value = serde_json::from_str(args).unwrap_or_else(|_| json!({}));
                    blocks.push(json!({"type": "tool_use", "id": call["id"],
                        "name": call["function"]["name"], "input": input}));
                }
                messages.push(json!({"role": "assistant", "content": blocks}));
            }
            "tool" => {
                let block = json!({"type": "tool_result", "tool_use_id": m["tool_call_id"],
                    "content": text_of(&m["content"])});
                // Consecutive tool results belong to one user turn.
                match messages.last_mut() {
                    Some(last)
                        if last["role"] == "user"
                            && last["content"]
                                .as_array()
                                .is_some_and(|c| c.iter().all(|b| b["type"] == "tool_result")) =>
                    {
                        if let Some(blocks) = last["content"].as_array_mut() {
                            blocks.push(block);
                        }
                    }
                    _ => messages.push(json!({"role": "user", "content": [block]})),
                }
            }
            _ => {}
        }
    }
    let mut body = json!({
        "model": model,
        "max_tokens": max_tokens,
        "messages": messages,
        "stream": stream,
    });
    if !system.is_empty() {
        body["system"] = json!(system.join("\n\n"));
    }
    if !req.tools.is_empty() {
        body["tools"] = Value::Array(
            req.tools
                .iter()
                .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
                .collect(),
        );
    }
    if let Some(choice) = &req.tool_choice {
        let mapped = match choice {
            Value::String(s) if s == "required" => Some(json!({"type": "any"})),
            Value::String(s) if s == "none" => Some(json!({"type": "none"})),
            Value::String(_) => Some(json!({"type": "auto"})),
            Value::Object(o) => o
                .get("function")
                .and_then(|f| f["name"].as_str())
                .map(|name| json!({"type": "tool", "name": name})),
            _ => None,
        };
        if let Some(mapped) = mapped {
            body["tool_choice"] = mapped;
        }
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(p) = req.top_p {
        body["top_p"] = json!(p);
    }
    if !req.stop.is_empty() {
        body["stop_sequences"] = json!(req.stop);
    }
    body
}

fn stop_reason(s: &str) -> FinishReason {
    match s {
        "tool_use" => FinishReason::ToolCalls,
        "max_tokens" => FinishReason::Length,
        "refusal" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

/// Why a stream failed, from an `error` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError {
    /// e.g. `overloaded_error`.
    pub kind: String,
    pub message: String,
}

/// Turns stream events into normalized events.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    /// Anthropic content-block index → our tool-call index.
    tool_blocks: HashMap<u64, usize>,
    tools: usize,
    input: u64,
    output: u64,
    stop: Option<FinishReason>,
    done: bool,
}

impl StreamDecoder {
    /// Whether `message_stop` was seen.
    pub fn complete(&self) -> bool {
        self.done
    }

    /// One event (`event:` name and `data:` payload).
    pub fn event(&mut self, name: &str, data: &str) -> Result<Vec<ChatEvent>, StreamError> {
        let v: Value = serde_json::from_str(data).map_err(|e| StreamError {
            kind: "malformed".into(),
            message: format!("the provider sent an event that is not JSON: {e}"),
        })?;
        let kind = v["type"].as_str().unwrap_or(name);
        let mut out = Vec::new();
        match kind {
            "message_start" => {
                let usage = &v["message"]["usage"];
                self.input = usage["input_tokens"].as_u64().unwrap_or(0)
                    + usage["cache_read_input_tokens"].as_u64().unwrap_or(0)
                    + usage["cache_creation_input_tokens"].as_u64().unwrap_or(0);
                self.output = usage["output_tokens"].as_u64().unwrap_or(0);
            }
            "content_block_start" => {
                let block = &v["content_block"];
                if block["type"] == "tool_use" {
                    let index = self.tools;
                    self.tools += 1;
                    self.tool_blocks
                        .insert(v["index"].as_u64().unwrap_or(0), index);
                    out.push(ChatEvent::ToolCallStart {
                        index,
                        id: block["id"].as_str().unwrap_or("").to_owned(),
                        name: block["name"].as_str().unwrap_or("").to_owned(),
                    });
                } else if let Some(text) = block["text"].as_str().filter(|t| !t.is_empty()) {
                    out.push(ChatEvent::TextDelta(text.to_owned()));
                }
            }
            "content_block_delta" => {
                let delta = &v["delta"];
                match delta["type"].as_str().unwrap_or("") {
                    "text_delta" => {
                        if let Some(t) = delta["text"].as_str().filter(|t| !t.is_empty()) {
                            out.push(ChatEvent::TextDelta(t.to_owned()));
                        }
                    }
                    "input_json_delta" => {
                        let block = v["index"].as_u64().unwrap_or(0);
                        if let (Some(index), Some(fragment)) = (
                            self.tool_blocks.get(&block),
                            delta["partial_json"].as_str().filter(|f| !f.is_empty()),
                        ) {
                            out.push(ChatEvent::ToolCallArgs {
                                index: *index,
                                fragment: fragment.to_owned(),
                            });
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(reason) = v["delta"]["stop_reason"].as_str() {
                    self.stop = Some(stop_reason(reason));
                }
                if let Some(n) = v["usage"]["output_tokens"].as_u64() {
                    self.output = n;
                }
            }
            "message_stop" => {
                self.done = true;
                out.push(ChatEvent::Usage {
                    input: self.input,
                    output: self.output,
                });
                out.push(ChatEvent::Finish(self.stop.unwrap_or(FinishReason::Stop)));
            }
            "error" => {
                return Err(StreamError {
                    kind: v["error"]["type"].as_str().unwrap_or("error").to_owned(),
                    message: v["error"]["message"]
                        .as_str()
                        .unwrap_or("the provider reported an error")
                        .chars()
                        .take(300)
                        .collect(),
                });
            }
            // `ping`, `content_block_stop` and future event types carry nothing we need.
            _ => {}
        }
        Ok(out)
    }
}

/// A whole (non-streaming) response as events.
pub fn decode_response(v: &Value) -> Result<Vec<ChatEvent>, String> {
    if v["type"] == "error" {
        return Err(v["error"]["message"]
            .as_str()
            .unwrap_or("the provider reported an error")
            .to_owned());
    }
    let content = v["content"]
        .as_array()
        .ok_or("the provider's answer has no content")?;
    let mut out = Vec::new();
    let mut tools = 0;
    for block in content {
        match block["type"].as_str().unwrap_or("") {
            "text" => {
                if let Some(t) = block["text"].as_str().filter(|t| !t.is_empty()) {
                    out.push(ChatEvent::TextDelta(t.to_owned()));
                }
            }
            "tool_use" => {
                out.push(ChatEvent::ToolCallStart {
                    index: tools,
                    id: block["id"].as_str().unwrap_or("").to_owned(),
                    name: block["name"].as_str().unwrap_or("").to_owned(),
                });
                out.push(ChatEvent::ToolCallArgs {
                    index: tools,
                    fragment: block["input"].to_string(),
                });
                tools += 1;
            }
            _ => {}
        }
    }
    let usage = &v["usage"];
    if usage.is_object() {
        out.push(ChatEvent::Usage {
            input: usage["input_tokens"].as_u64().unwrap_or(0),
            output: usage["output_tokens"].as_u64().unwrap_or(0),
        });
    }
    out.push(ChatEvent::Finish(stop_reason(
        v["stop_reason"].as_str().unwrap_or("end_turn"),
    )));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_tool_turns() {
        let req = ChatRequest::from_openai(&json!({
            "model": "claude", "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "why?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "t1", "type": "function", "function": {"name": "get_pods", "arguments": "{\"ns\":\"a\"}"}},
                    {"id": "t2", "type": "function", "function": {"name": "get_events", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "t1", "content": "pods"},
                {"role": "tool", "tool_call_id": "t2", "content": "events"}
            ],
            "tools": [{"type": "function", "function": {"name": "get_pods"}}],
            "tool_choice": "required"
        }))
        .unwrap();
        let body = request_body(&req, "claude", 100, true);
        assert_eq!(body["system"], "be brief");
        assert_eq!(body["messages"][1]["content"][0]["input"]["ns"], "a");
        assert_eq!(body["messages"][2]["content"].as_array().unwrap().len(), 2);
        assert_eq!(body["tool_choice"]["type"], "any");
    }

    #[test]
    fn input_json_delta_fragments_join() {
        let mut d = StreamDecoder::default();
        let mut out = Vec::new();
        for (name, data) in [
            (
                "message_start",
                r#"{"type":"message_start","message":{"usage":{"input_tokens":12,"output_tokens":1}}}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me look."}}"#,
            ),
            ("ping", r#"{"type":"ping"}"#),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_pods","input":{}}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"ns\": \"sh"}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"op\"}"}}"#,
            ),
            (
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":30}}"#,
            ),
            ("message_stop", r#"{"type":"message_stop"}"#),
        ] {
            out.extend(d.event(name, data).unwrap());
        }
        let mut a = super::super::super::chat::Assembler::default();
        for e in &out {
            a.push(e);
        }
        assert_eq!(a.text, "Let me look.");
        assert_eq!(a.tool_calls[0].2, "{\"ns\": \"shop\"}");
        assert_eq!(a.usage, Some((12, 30)));
        assert_eq!(a.finish, Some(FinishReason::ToolCalls));
        assert!(
            d.event(
                "error",
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
            )
            .is_err()
        );
    }
}
