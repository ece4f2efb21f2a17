//! The gateway's one internal shape of a chat: the request as parsed from the OpenAI Chat
//! Completions body, and the normalized event stream every provider adapter produces
//! ([`ChatEvent`]), whatever its wire format or quirks. The runtime API turns events back into
//! OpenAI JSON: SSE chunks ([`ChunkWriter`]) or one completion ([`Assembler`]).

use serde_json::{Value, json};

use acorn_proto::ErrorCode;

use super::GatewayError;

/// A function tool offered to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDef {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: Value,
}

/// A chat request, after parsing and before scope checks.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    /// `model` as sent (may be `provider/model`).
    pub model: String,
    /// Optional `provider` field (an Acorn extension).
    pub provider: Option<String>,
    /// OpenAI message objects.
    pub messages: Vec<Value>,
    pub tools: Vec<ToolDef>,
    pub tool_choice: Option<Value>,
    /// `max_completion_tokens` or `max_tokens`.
    pub max_tokens: Option<u64>,
    pub stream: bool,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    /// Stop sequences.
    pub stop: Vec<String>,
}

fn bad(message: impl Into<String>) -> GatewayError {
    GatewayError::new(ErrorCode::InvalidBody, message)
}

impl ChatRequest {
    /// Parses an OpenAI Chat Completions body. Unknown fields are ignored (clients send many
    /// optional ones); fields that change what is asked of the model are understood or refused.
    pub fn from_openai(body: &Value) -> Result<ChatRequest, GatewayError> {
        let obj = body
            .as_object()
            .ok_or_else(|| bad("the body must be a JSON object"))?;
        let model = obj
            .get("model")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("`model` is required"))?
            .to_owned();
        let messages = obj
            .get("messages")
            .and_then(Value::as_array)
            .filter(|m| !m.is_empty())
            .ok_or_else(|| bad("`messages` must be a non-empty array"))?
            .clone();
        for m in &messages {
            let role = m["role"].as_str().unwrap_or("");
            if !matches!(role, "system" | "developer" | "user" | "assistant" | "tool") {
                return Err(bad(format!("message role {role:?} is not supported")));
            }
        }
        let mut tools = Vec::new();
        if let Some(list) = obj.get("tools").filter(|t| !t.is_null()) {
            for t in list
                .as_array()
                .ok_or_else(|| bad("`tools` must be an array"))?
            {
                if t["type"] != "function" {
                    return Err(bad("only tools of type `function` are supported"));
                }
                let f = &t["function"];
                let name = f["name"]
                    .as_str()
                    .ok_or_else(|| bad("every tool needs `function.name`"))?;
                tools.push(ToolDef {
                    name: name.to_owned(),
                    description: f["description"].as_str().unwrap_or("").to_owned(),
                    parameters: if f["parameters"].is_object() {
                        f["parameters"].clone()
                    } else {
                        json!({"type": "object", "properties": {}})
                    },
                });
            }
        }
        let n = obj.get("n").and_then(Value::as_u64).unwrap_or(1);
        if n != 1 {
            return Err(bad("`n` other than 1 is not supported"));
        }
        let max_tokens = obj
            .get("max_completion_tokens")
            .or_else(|| obj.get("max_tokens"))
            .filter(|v| !v.is_null())
            .map(|v| {
                v.as_u64()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("`max_tokens` must be a positive integer"))
            })
            .transpose()?;
        let stop = match obj.get("stop") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .map(|s| s.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad("`stop` must be a string or an array of strings"))?,
            Some(_) => return Err(bad("`stop` must be a string or an array of strings")),
        };
        Ok(ChatRequest {
            model,
            provider: obj
                .get("provider")
                .and_then(Value::as_str)
                .map(str::to_owned),
            messages,
            tools,
            tool_choice: obj.get("tool_choice").filter(|v| !v.is_null()).cloned(),
            max_tokens,
            stream: obj.get("stream").and_then(Value::as_bool).unwrap_or(false),
            temperature: obj.get("temperature").and_then(Value::as_f64),
            top_p: obj.get("top_p").and_then(Value::as_f64),
            stop,
        })
    }

    /// A rough token count of the prompt (4 bytes per token), for providers that report no usage.
    pub fn estimated_input_tokens(&self) -> u64 {
        let bytes: usize = self
            .messages
            .iter()
            .map(|m| m.to_string().len())
            .sum::<usize>()
            + self
                .tools
                .iter()
                .map(|t| t.name.len() + t.description.len() + t.parameters.to_string().len())
                .sum::<usize>();
        estimate_tokens(bytes)
    }
}

/// Tokens for `bytes` of text, by the common 4-bytes-per-token rule (rounded up).
pub fn estimate_tokens(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(4)
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
        }
    }
}

/// One normalized event of a model's answer. Tool calls are numbered 0, 1, … in the order they
/// start, whatever the provider's own indexes were.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    TextDelta(String),
    ToolCallStart {
        index: usize,
        id: String,
        name: String,
    },
    ToolCallArgs {
        index: usize,
        fragment: String,
    },
    /// Token use reported by the provider (may come more than once; the last one counts).
    Usage {
        input: u64,
        output: u64,
    },
    /// The answer is complete.
    Finish(FinishReason),
}

/// Accumulates events into a whole answer (for non-streaming clients, for the audit record and
/// for counting tokens when the provider reports none).
#[derive(Debug, Default, Clone)]
pub struct Assembler {
    pub text: String,
    /// (id, name, arguments).
    pub tool_calls: Vec<(String, String, String)>,
    pub usage: Option<(u64, u64)>,
    pub finish: Option<FinishReason>,
}

impl Assembler {
    pub fn push(&mut self, event: &ChatEvent) {
        match event {
            ChatEvent::TextDelta(t) => self.text.push_str(t),
            ChatEvent::ToolCallStart { index, id, name } => {
                if *index >= self.tool_calls.len() {
                    self.tool_calls
                        .resize(*index + 1, (String::new(), String::new(), String::new()));
                }
                self.tool_calls[*index].0 = id.clone();
                self.tool_calls[*index].1 = name.clone();
            }
            ChatEvent::ToolCallArgs { index, fragment } => {
                if let Some(call) = self.tool_calls.get_mut(*index) {
                    call.2.push_str(fragment);
                }
            }
            ChatEvent::Usage { input, output } => self.usage = Some((*input, *output)),
            ChatEvent::Finish(reason) => self.finish = Some(*reason),
        }
    }

    /// Output tokens: the provider's count, else counted from the text and arguments.
    pub fn output_tokens_counted(&self) -> u64 {
        estimate_tokens(
            self.text.len()
                + self
                    .tool_calls
                    .iter()
                    .map(|(_, n, a)| n.len() + a.len())
                    .sum::<usize>(),
        )
    }

    /// The OpenAI `chat.completion` object.
    pub fn completion(&self, id: &str, model: &str, created: i64, usage: (u64, u64)) -> Value {
        let mut message = json!({
            "role": "assistant",
            "content": if self.text.is_empty() && !self.tool_calls.is_empty() { Value::Null } else { Value::String(self.text.clone()) },
        });
        if !self.tool_calls.is_empty() {
            message["tool_calls"] = Value::Array(
                self.tool_calls
                    .iter()
                    .map(|(id, name, args)| {
                        json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}})
                    })
                    .collect(),
            );
        }
        json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{
                "index": 0,
                "message": message,
                "finish_reason": self.finish.unwrap_or(FinishReason::Stop).as_str(),
                "logprobs": Value::Null,
            }],
            "usage": usage_json(usage),
        })
    }
}

fn usage_json((input, output): (u64, u64)) -> Value {
    json!({"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output})
}

/// Writes events as OpenAI `chat.completion.chunk` objects.
pub struct ChunkWriter {
    pub id: String,
    pub model: String,
    pub created: i64,
    started: bool,
}

impl ChunkWriter {
    pub fn new(id: String, model: String, created: i64) -> ChunkWriter {
        ChunkWriter {
            id,
            model,
            created,
            started: false,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<FinishReason>) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "delta": delta,
                "finish_reason": finish.map(FinishReason::as_str),
                "logprobs": Value::Null,
            }],
        })
    }

    /// The chunks for one event (usage is written by [`ChunkWriter::usage`] at the end).
    pub fn event(&mut self, event: &ChatEvent) -> Vec<Value> {
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            out.push(self.chunk(json!({"role": "assistant", "content": ""}), None));
        }
        match event {
            ChatEvent::TextDelta(t) => out.push(self.chunk(json!({"content": t}), None)),
            ChatEvent::ToolCallStart { index, id, name } => out.push(self.chunk(
                json!({"tool_calls": [{"index": index, "id": id, "type": "function",
                        "function": {"name": name, "arguments": ""}}]}),
                None,
            )),
            ChatEvent::ToolCallArgs { index, fragment } => out.push(self.chunk(
                json!({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}),
                None,
            )),
            ChatEvent::Usage { .. } => {}
            ChatEvent::Finish(reason) => out.push(self.chunk(json!({}), Some(*reason))),
        }
        out
    }

    /// The final usage chunk (`choices` empty, as OpenAI sends with `include_usage`).
    pub fn usage(&self, usage: (u64, u64)) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage_json(usage),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let ok = ChatRequest::from_openai(&json!({
            "model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "get_pods"}}],
            "max_tokens": 10, "stream": true, "stop": "x"
        }))
        .unwrap();
        assert_eq!(ok.tools[0].name, "get_pods");
        assert_eq!(ok.max_tokens, Some(10));
        assert_eq!(ok.stop, vec!["x".to_string()]);
        for bad in [
            json!({"messages": [{"role": "user", "content": "x"}]}),
            json!({"model": "m", "messages": []}),
            json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}),
            json!({"model": "m", "messages": [{"role": "user"}], "max_tokens": 0}),
            json!({"model": "m", "messages": [{"role": "user"}], "n": 2}),
        ] {
            assert!(ChatRequest::from_openai(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn assembles_parallel_calls() {
        let mut a = Assembler::default();
        for e in [
            ChatEvent::ToolCallStart {
                index: 0,
                id: "a".into(),
                name: "x".into(),
            },
            ChatEvent::ToolCallArgs {
                index: 0,
                fragment: "{}".into(),
            },
            ChatEvent::ToolCallStart {
                index: 1,
                id: "b".into(),
                name: "y".into(),
            },
            ChatEvent::ToolCallArgs {
                index: 1,
                fragment: "{\"n\":1}".into(),
            },
            ChatEvent::Finish(FinishReason::ToolCalls),
        ] {
            a.push(&e);
        }
        let c = a.completion("id", "m", 0, (1, 2));
        assert_eq!(
            c["choices"][0]["message"]["tool_calls"][1]["function"]["arguments"],
            "{\"n\":1}"
        );
        assert_eq!(c["choices"][0]["finish_reason"], "tool_calls");
        assert!(c["choices"][0]["message"]["content"].is_null());
    }
}
