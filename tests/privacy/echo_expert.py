#!/usr/bin/env python3
"""A loopback expert for the privacy end-to-end test (stdlib only).

An OpenAI-compatible server on 127.0.0.1 that records the exact bytes of
every request body it receives (one file per request in CAPTURE_DIR) and
answers /v1/chat/completions by quoting the last user message:
"Expert here. You wrote: <message>". Streamed answers come in 3-character
pieces, so placeholders arrive split across events.

    echo_expert.py CAPTURE_DIR -- COMMAND...

runs COMMAND with PLMM_EXPERT_URL=http://127.0.0.1:PORT/v1 and exits with
its status.
"""
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CAPTURE = None
COUNT = [0]
LOCK = threading.Lock()


def sse(obj):
    return ("data: " + json.dumps(obj) + "\n\n").encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.rstrip("/").endswith("/v1/models"):
            return self.send_json(200, {"object": "list", "data": [{"id": "echo", "object": "model"}]})
        return self.send_json(404, {"error": {"message": "not found"}})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with LOCK:
            COUNT[0] += 1
            with open(os.path.join(CAPTURE, "request-%d.json" % COUNT[0]), "wb") as f:
                f.write(body)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            return self.send_json(404, {"error": {"message": "not found"}})
        req = json.loads(body)
        user = [m["content"] for m in req.get("messages", []) if m.get("role") == "user"]
        text = "Expert here. You wrote: " + (user[-1] if user else "")
        if not req.get("stream"):
            return self.send_json(200, {
                "id": "echo", "object": "chat.completion", "model": "echo",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for i in range(0, len(text), 3):
            self.wfile.write(sse({"id": "echo", "object": "chat.completion.chunk", "model": "echo",
                                  "choices": [{"index": 0, "delta": {"content": text[i:i + 3]},
                                               "finish_reason": None}]}))
            self.wfile.flush()
        self.wfile.write(sse({"id": "echo", "object": "chat.completion.chunk", "model": "echo",
                              "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True


def main():
    global CAPTURE
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit("usage: echo_expert.py CAPTURE_DIR -- COMMAND...")
    CAPTURE = sys.argv[1]
    os.makedirs(CAPTURE, exist_ok=True)
    for name in os.listdir(CAPTURE):
        if name.startswith("request-"):
            os.unlink(os.path.join(CAPTURE, name))
    srv = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env["PLMM_EXPERT_URL"] = "http://127.0.0.1:%d/v1" % srv.server_address[1]
    env["PLMM_CAPTURE_DIR"] = CAPTURE
    rc = subprocess.call(sys.argv[3:], env=env)
    srv.shutdown()
    sys.exit(rc)


if __name__ == "__main__":
    main()
