"""The official `openai` Python client as a real client of the gateway's runtime API.

Usage: python openai_client.py BASE_URL CA_FILE RUN_TOKEN MODEL
Prints one JSON object with what each scenario saw.
"""

import json
import ssl
import sys

import openai

try:  # openai 3.x ships its HTTP client as httpx2
    import httpx2 as httpx
except ImportError:  # older releases use httpx
    import httpx

base_url, ca_file, token, model = sys.argv[1:5]
client = openai.OpenAI(
    base_url=base_url,
    api_key=token,
    http_client=httpx.Client(verify=ssl.create_default_context(cafile=ca_file)),
    max_retries=0,
)
messages = [{"role": "user", "content": "Why is checkout crash-looping?"}]
tools = [{
    "type": "function",
    "function": {
        "name": "get_pods",
        "description": "List pods",
        "parameters": {"type": "object", "properties": {"namespace": {"type": "string"}}},
    },
}]
out = {}

# Streaming text with usage.
text, usage, finish = "", None, None
stream = client.chat.completions.create(
    model=model, messages=messages, stream=True, stream_options={"include_usage": True}
)
for chunk in stream:
    if chunk.usage:
        usage = [chunk.usage.prompt_tokens, chunk.usage.completion_tokens]
    for choice in chunk.choices:
        if choice.delta.content:
            text += choice.delta.content
        if choice.finish_reason:
            finish = choice.finish_reason
out["stream"] = {"text": text, "usage": usage, "finish": finish}

# Tool calls, whole answer.
r = client.chat.completions.create(model=model, messages=messages, tools=tools)
call = r.choices[0].message.tool_calls[0]
out["tools"] = {
    "name": call.function.name,
    "arguments": json.loads(call.function.arguments),
    "finish": r.choices[0].finish_reason,
    "usage": [r.usage.prompt_tokens, r.usage.completion_tokens],
}

# Tool calls, streamed (deltas accumulated the way the client's users do).
calls = {}
finish = None
for chunk in client.chat.completions.create(model=model, messages=messages, tools=tools, stream=True):
    for choice in chunk.choices:
        for tc in choice.delta.tool_calls or []:
            entry = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
            if tc.id:
                entry["id"] = tc.id
            if tc.function and tc.function.name:
                entry["name"] += tc.function.name
            if tc.function and tc.function.arguments:
                entry["arguments"] += tc.function.arguments
        if choice.finish_reason:
            finish = choice.finish_reason
out["tools_stream"] = {"calls": [calls[i] for i in sorted(calls)], "finish": finish}

# A refused scope: another model.
try:
    client.chat.completions.create(model="gpt-4o", messages=messages)
    out["refused"] = {"status": None}
except openai.APIStatusError as e:
    out["refused"] = {"status": e.status_code, "body": e.body, "class": type(e).__name__}

# A tool outside the run's set, streamed.
try:
    bad = [dict(tools[0], function=dict(tools[0]["function"], name="delete_pod"))]
    for _ in client.chat.completions.create(model=model, messages=messages, tools=bad, stream=True):
        pass
    out["refused_tool"] = {"status": None}
except openai.APIStatusError as e:
    out["refused_tool"] = {"status": e.status_code, "body": e.body}

print(json.dumps(out))
