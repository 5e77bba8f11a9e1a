#!/usr/bin/env python3
"""A mock OpenAI-compatible server for the connector tests (stdlib only).

The first path component picks the behaviour: http://HOST:PORT/SCENARIO/v1/...
Each scenario answers /chat/completions in one way (success, stream, errors,
stalls) and /models with a model list. Run as a program it serves until
killed and prints "PORT <n>" on stdout once listening; with a command after
"--" it runs that command with PLMM_MOCK_URL set and exits with its status.
"""
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HITS = {}
LOCK = threading.Lock()


def completion(content, usage=True, finish="stop"):
    obj = {
        "id": "chatcmpl-mock", "object": "chat.completion", "created": 1, "model": "mock",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": finish}],
    }
    if usage:
        obj["usage"] = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    return obj


def chunk(delta, finish=None):
    # with include_usage, OpenAI sends "usage": null in every chunk but the last
    return {"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1,
            "model": "mock", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            "usage": None}


def sse(obj):
    return "data: " + json.dumps(obj) + "\n\n"


STREAM_OK = (
    ": keep-alive\n\n"
    + sse(chunk({"role": "assistant"}))
    + "event: message\n" + sse(chunk({"content": "Hel"}))
    + ":ping\n"
    + sse(chunk({"content": "lo"}))
    + sse(chunk({"content": " world"}))
    + sse(chunk({}, "stop"))
    + sse({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "choices": [],
           "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
           "plmm_receipt": {"completion_tokens": 3}})
    + "data: [DONE]\n\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def send_json(self, code, obj, extra=None):
        body = (obj if isinstance(obj, str) else json.dumps(obj)).encode()
        self.send_response(code)
        ctype = "application/json" if not isinstance(obj, str) else "text/html"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def write_pieces(self, data, sizes=(3, 7, 1, 13, 2)):
        """Send data in small writes with pauses, so lines and CRLF pairs
        arrive split across network reads."""
        raw = data.encode()
        i = k = 0
        while i < len(raw):
            n = sizes[k % len(sizes)]
            self.wfile.write(raw[i:i + n])
            self.wfile.flush()
            time.sleep(0.002)
            i += n
            k += 1

    def scenario(self):
        parts = self.path.split("/")
        return parts[1] if len(parts) > 2 else ""

    def hit(self, scn):
        with LOCK:
            HITS[scn] = HITS.get(scn, 0) + 1
            return HITS[scn]

    def do_GET(self):
        scn = self.scenario()
        if not self.path.endswith("/models"):
            return self.send_json(404, {"error": {"message": "no such route"}})
        if scn == "models500":
            return self.send_json(500, {"error": {"message": "backend down"}})
        ids = ["mock-a", "mock-b", "hits-%d" % HITS.get("refuse", 0)]
        self.send_json(200, {"object": "list",
                             "data": [{"id": i, "object": "model"} for i in ids]})

    def do_POST(self):
        scn = self.scenario()
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n) if n else b""
        count = self.hit(scn)
        if not self.path.endswith("/chat/completions"):
            return self.send_json(404, {"error": {"message": "no such route"}})
        try:
            req = json.loads(body)
        except ValueError:
            return self.send_json(400, {"error": {"message": "invalid JSON body"}})
        if scn == "ok":
            obj = completion("Hello from mock")
            obj["plmm_receipt"] = {"model": "mock", "prompt_tokens": 5, "sig": "abc"}
            return self.send_json(200, obj)
        if scn == "echo":
            return self.send_json(200, completion(body.decode()))
        if scn == "auth":
            return self.send_json(200, completion(self.headers.get("Authorization", "<none>")))
        if scn == "unauthorized":
            return self.send_json(401, {"error": {"message": "Incorrect API key provided",
                                                  "type": "invalid_request_error"}})
        if scn == "retry429":
            if count == 1:
                return self.send_json(429, {"error": {"message": "rate limited"}},
                                      {"Retry-After": "1"})
            return self.send_json(200, completion("after retry"))
        if scn == "err500":
            return self.send_json(500, {"error": {"message": "model overloaded",
                                                  "type": "server_error"}})
        if scn == "html502":
            return self.send_json(502, "<html><head><title>502</title></head><body>"
                                       "<h1>502 Bad Gateway</h1><hr>nginx</body></html>")
        if scn == "ollama400":
            return self.send_json(400, {"error": "model \"nope\" not found, try pulling it"})
        if scn == "badjson":
            return self.send_json(200, '{"choices": [ {"message": ')
        if scn == "nochoices":
            return self.send_json(200, {"object": "chat.completion", "choices": []})
        if scn == "big":
            return self.send_json(200, completion("x" * 200000))
        if scn == "slow":
            time.sleep(3)
            return self.send_json(200, completion("too late"))
        if scn == "stream_ok" or scn == "stream_crlf":
            data = STREAM_OK.replace("\n", "\r\n") if scn == "stream_crlf" else STREAM_OK
            self.start_stream()
            return self.write_pieces(data)
        if scn == "stream_multiline":
            # one event spread over two data lines (joined with a newline)
            self.start_stream()
            return self.write_pieces('data: {"choices":[{"index":0,\ndata: "delta":{"content":'
                                     '"multi"},"finish_reason":"stop"}]}\n\n'
                                     "data: [DONE]\n\n")
        if scn == "stream_json":
            # a server that ignores "stream": true and answers with one object
            return self.send_json(200, completion("whole answer"))
        if scn == "stream_error":
            self.start_stream()
            return self.write_pieces(sse(chunk({"content": "partial"}))
                                     + sse({"error": {"message": "context length exceeded",
                                                      "type": "invalid_request_error"}}))
        if scn == "stream_error_field":
            # llama.cpp's server reports a failure mid-stream in an "error:" field
            self.start_stream()
            return self.write_pieces(sse(chunk({"content": "partial"}))
                                     + 'error: {"code":500,"message":"kv cache full",'
                                       '"type":"server_error"}\n\n')
        if scn == "stream_trunc":
            self.start_stream()
            return self.write_pieces(sse(chunk({"content": "cut"})) + 'data: {"choi')
        if scn == "stream_badjson":
            self.start_stream()
            return self.write_pieces("data: {nope}\n\n")
        if scn == "stream_abort":
            # chunked stream whose connection drops inside a chunk
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            ev = sse(chunk({"content": "half"})).encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(ev), ev))
            self.wfile.write(b"400\r\ndata: {\"choi")
            self.wfile.flush()
            self.close_connection = True
            return
        if scn == "stream_stall":
            self.start_stream()
            self.wfile.write(sse(chunk({"content": "first"})).encode())
            self.wfile.flush()
            time.sleep(4)
            return
        if scn == "refuse":
            return self.send_json(200, completion("must not be reached"))
        return self.send_json(404, {"error": {"message": "unknown scenario '%s'" % scn}})


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # clients that hang up on purpose (size limits, timeouts, cancel)
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    port = srv.server_address[1]
    if "--" in sys.argv:
        cmd = sys.argv[sys.argv.index("--") + 1:]
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        env = dict(os.environ)
        env["PLMM_MOCK_URL"] = "http://127.0.0.1:%d" % port
        env["PLMM_MOCK_DEAD_URL"] = "http://127.0.0.1:%d" % free_port()
        rc = subprocess.call(cmd, env=env)
        srv.shutdown()
        sys.exit(rc)
    print("PORT %d" % port, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
