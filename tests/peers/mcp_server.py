"""A real MCP server (official Python `mcp` SDK, Streamable HTTP) for the gateway tests.

Usage: python mcp_server.py PORT EXPECTED_AUTHORIZATION

Tools:
- get_weather(city): read-only (readOnlyHint), answers with the city;
- whoami(): echoes the scope headers the gateway sent (x-acorn-workspace/cluster/run) and
  whether the Authorization header matched the expected value;
- leak(): returns text with planted secrets (a password and an AWS key) for redaction;
- huge(): returns 300 000 characters (output limit);
- slow(seconds): sleeps (timeout);
- grow(): registers a new tool `extra` at run time (refresh detects it);
- broken(): raises (an `isError` result whose message holds a secret);
- restart_pod(name): a write tool (no readOnlyHint).
Every request whose Authorization header differs from the expected one is refused (HTTP 401),
so a test also proves the header travels encrypted-at-rest → clear on the wire.
"""

import asyncio
import sys

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import JSONResponse

PORT = int(sys.argv[1])
EXPECTED_AUTH = sys.argv[2]

mcp = MCPServer("acorn-test-mcp")


@mcp.tool(annotations=ToolAnnotations(readOnlyHint=True))
def get_weather(city: str) -> str:
    """Current weather of a city."""
    return f"sunny in {city}"


@mcp.tool(annotations=ToolAnnotations(readOnlyHint=True))
def whoami(ctx: Context) -> str:
    """The scope headers the caller sent."""
    h = ctx.request_context.request.headers
    return (
        f"workspace={h.get('x-acorn-workspace')} cluster={h.get('x-acorn-cluster')} "
        f"run={h.get('x-acorn-run')} auth_ok={h.get('authorization') == EXPECTED_AUTH}"
    )


@mcp.tool(annotations=ToolAnnotations(readOnlyHint=True))
def leak() -> str:
    """Configuration dump with secrets in it."""
    return "DB_PASSWORD=hunter2hunter2\naws AKIAIOSFODNN7EXAMPLE\nnothing else"


@mcp.tool(annotations=ToolAnnotations(readOnlyHint=True))
def huge() -> str:
    """A very large answer."""
    return "x" * 300_000


@mcp.tool(annotations=ToolAnnotations(readOnlyHint=True))
async def slow(seconds: float) -> str:
    """Sleeps."""
    await asyncio.sleep(seconds)
    return "slept"


@mcp.tool(annotations=ToolAnnotations(readOnlyHint=True))
def grow() -> str:
    """Registers the tool `extra`."""

    def extra() -> str:
        """A tool that appeared later."""
        return "extra"

    mcp.add_tool(extra)
    return "grown"


@mcp.tool(annotations=ToolAnnotations(readOnlyHint=True))
def broken() -> str:
    """Always fails, with a secret in its message."""
    raise ValueError("cannot connect: password=sup3rs3cret rejected")


@mcp.tool()
def restart_pod(name: str) -> str:
    """Restarts a pod (a write tool)."""
    return f"restarted {name}"


class RequireAuth(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        if request.headers.get("authorization") != EXPECTED_AUTH:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return await call_next(request)


if __name__ == "__main__":
    import uvicorn

    app = mcp.streamable_http_app()
    app.add_middleware(RequireAuth)
    print(f"mcp test server on {PORT}", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning")
