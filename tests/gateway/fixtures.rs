//! Provider answers, byte for byte as the providers send them: one stream per quirk profile.
//! OpenAI chunks carry the fields OpenAI sends (`system_fingerprint`, `logprobs`, `refusal`);
//! Anthropic streams carry `event:` lines, `ping`s and `input_json_delta` fragments.

use serde_json::{Value, json};

const ID: &str = "chatcmpl-AcRn0000000000000000000000";
const FP: &str = "fp_0aa8d3e20b";

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let c = json!({
        "id": ID, "object": "chat.completion.chunk", "created": 1764230400,
        "model": "gpt-test", "system_fingerprint": FP,
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
    });
    format!("data: {c}\n\n")
}

fn usage_chunk(prompt: u64, completion: u64) -> String {
    let c = json!({
        "id": ID, "object": "chat.completion.chunk", "created": 1764230400,
        "model": "gpt-test", "system_fingerprint": FP, "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                  "total_tokens": prompt + completion,
                  "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}}
    });
    format!("data: {c}\n\n")
}

const DONE: &str = "data: [DONE]\n\n";

/// Plain text, usage at the end (`stream_options.include_usage`).
pub fn openai_text() -> Vec<String> {
    vec![
        chunk(
            json!({"role": "assistant", "content": "", "refusal": null}),
            None,
        ),
        chunk(json!({"content": "The pod is "}), None),
        chunk(json!({"content": "crash-looping."}), None),
        chunk(json!({}), Some("stop")),
        usage_chunk(42, 7),
        DONE.into(),
    ]
}

/// A tool call arriving whole in one chunk (vLLM, some llama.cpp builds).
pub fn openai_tool_whole() -> Vec<String> {
    vec![
        chunk(
            json!({"role": "assistant", "content": null, "tool_calls": [{"index": 0, "id": "call_whole1", "type": "function", "function": {"name": "get_pods", "arguments": "{\"namespace\":\"shop\"}"}}]}),
            None,
        ),
        chunk(json!({}), Some("tool_calls")),
        usage_chunk(50, 12),
        DONE.into(),
    ]
}

/// Parallel calls all sent with index 0 and told apart by id; `finish_reason: "stop"` although
/// tools were called; no usage (an older OpenAI-compatible server).
pub fn openai_parallel_index0() -> Vec<String> {
    vec![
        chunk(json!({"role": "assistant", "content": null}), None),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "get_pods", "arguments": ""}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"namespace\":"}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"shop\"}"}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_b", "type": "function", "function": {"name": "get_events", "arguments": "{}"}}]}),
            None,
        ),
        chunk(json!({}), Some("stop")),
        DONE.into(),
    ]
}

/// A stream cut mid-way (no finish, no `[DONE]`).
pub fn openai_cut() -> Vec<String> {
    let mut s = openai_text();
    s.truncate(2);
    s
}

/// Non-streaming OpenAI answer with two tool calls.
pub fn openai_tool_json() -> Value {
    json!({
        "id": ID, "object": "chat.completion", "created": 1764230400, "model": "gpt-test",
        "system_fingerprint": FP,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "refusal": null,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_pods", "arguments": "{\"namespace\":\"shop\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "get_events", "arguments": "{}"}}]},
            "logprobs": null, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 20, "total_tokens": 50}
    })
}

/// Non-streaming plain answer.
pub fn openai_text_json() -> Value {
    json!({
        "id": ID, "object": "chat.completion", "created": 1764230400, "model": "gpt-test",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "All good."},
            "logprobs": null, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
    })
}

fn event(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// Anthropic Messages stream: text, a `ping`, then a tool call whose input arrives as
/// `input_json_delta` fragments.
pub fn anthropic_tool_stream() -> Vec<String> {
    vec![
        event(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_01Acorn", "type": "message", "role": "assistant", "model": "claude-test", "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 472, "output_tokens": 2}}}),
        ),
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        event("ping", json!({"type": "ping"})),
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me check"}}),
        ),
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " the pods."}}),
        ),
        event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_01A", "name": "get_pods", "input": {}}}),
        ),
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}}),
        ),
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"namespace\": \"sh"}}),
        ),
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "op\"}"}}),
        ),
        event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        ),
        event(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 89}}),
        ),
        event("message_stop", json!({"type": "message_stop"})),
    ]
}

/// An Anthropic stream that fails with an `error` event mid-way.
pub fn anthropic_overloaded_mid_stream() -> Vec<String> {
    let mut s = anthropic_tool_stream();
    s.truncate(4);
    s.push(event(
        "error",
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ));
    s
}

/// Non-streaming Anthropic answer.
pub fn anthropic_json() -> Value {
    json!({
        "id": "msg_01Acorn", "type": "message", "role": "assistant", "model": "claude-test",
        "content": [{"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_01B", "name": "get_events", "input": {"namespace": "shop"}}],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 100, "output_tokens": 25}
    })
}
