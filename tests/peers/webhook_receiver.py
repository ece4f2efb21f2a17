"""A real webhook receiver for the tests: verifies every delivery with the independent
`standardwebhooks` package (PyPI, the Standard Webhooks reference library) and records it.

    python webhook_receiver.py serve          # prints {"port": N} on its first line
    python webhook_receiver.py sign SECRET ID TIMESTAMP BODY_FILE   # prints webhook-signature

Control endpoints (JSON):
    POST /_secrets   ["whsec_...", ...]  secrets to verify with (any one may verify)
    POST /_script    [{"status": 503, "retry_after": "2", "delay_ms": 0, "location": "..."}, ...]
                     answers for the next deliveries, in order (then 200)
    GET  /_deliveries  every delivery: headers, body, verified, verified_with, error, answered
Any other POST is a delivery.
"""

import json
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

LOCK = threading.Lock()
SECRETS = []
SCRIPT = []
DELIVERIES = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _json(self, status, value):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        if self.path == "/_deliveries":
            with LOCK:
                self._json(200, list(DELIVERIES))
        else:
            self._json(404, {"error": "no such path"})

    def do_POST(self):
        body = self._body()
        if self.path == "/_secrets":
            with LOCK:
                SECRETS[:] = json.loads(body)
            return self._json(200, {"ok": True})
        if self.path == "/_script":
            with LOCK:
                SCRIPT[:] = json.loads(body)
            return self._json(200, {"ok": True})
        headers = {k.lower(): v for k, v in self.headers.items()}
        record = {
            "path": self.path,
            "headers": headers,
            "body": body.decode("utf-8", "replace"),
            "received_ms": int(time.time() * 1000),
            "verified": False,
            "verified_with": None,
            "error": None,
            "answered": None,
        }
        with LOCK:
            secrets = list(SECRETS)
            answer = SCRIPT.pop(0) if SCRIPT else {}
            DELIVERIES.append(record)
        errors = []
        for i, secret in enumerate(secrets):
            try:
                Webhook(secret).verify(body, headers)
                record["verified"] = True
                record["verified_with"] = i
                break
            except Exception as e:  # the library raises WebhookVerificationError
                errors.append(f"{type(e).__name__}: {e}")
        if not record["verified"]:
            record["error"] = "; ".join(errors) or "no secret configured"
        delay = answer.get("delay_ms", 0)
        if delay:
            time.sleep(delay / 1000)
        status = answer.get("status", 200 if record["verified"] else 400)
        reply = json.dumps({"ok": status < 300}).encode()
        try:
            self.send_response(status)
            if "retry_after" in answer:
                self.send_header("retry-after", str(answer["retry_after"]))
            if "location" in answer:
                self.send_header("location", answer["location"])
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
            record["answered"] = status
        except (BrokenPipeError, ConnectionResetError):
            record["answered"] = "client gone"


def serve():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    server.serve_forever()


def sign(secret, msg_id, timestamp, body_file):
    with open(body_file, "rb") as f:
        body = f.read().decode()
    ts = datetime.fromtimestamp(int(timestamp), tz=timezone.utc)
    print(Webhook(secret).sign(msg_id, ts, body))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve()
    elif sys.argv[1] == "sign":
        sign(*sys.argv[2:6])
    else:
        sys.exit(f"unknown mode {sys.argv[1]}")
