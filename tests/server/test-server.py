#!/usr/bin/env python3
"""End-to-end tests of `plmm serve` (suite 'server').

    test-server.py PLMM MODEL

PLMM is the built plmm binary, MODEL the shipped models/stories260K-Q8_0.gguf.
Every server binds port 0 and the test reads the chosen port from its
"listening on http://HOST:PORT" line. Only the Python standard library is
used. Each server must exit with status 0 after SIGTERM/SIGINT (under
AddressSanitizer that includes "no leaks").
"""
import atexit
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

PLMM, MODEL = sys.argv[1], sys.argv[2]
TMP = tempfile.mkdtemp(prefix="plmm-server-test-")
failures = 0
checks = 0
servers = []


@atexit.register
def kill_leftovers():
    """A test that dies half-way leaves no server behind."""
    for srv in servers:
        if srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()


def check(cond, what):
    global failures, checks
    checks += 1
    if not cond:
        failures += 1
        print("FAIL:", what, flush=True)
    return cond


class Server:
    def __init__(self, name, keys, extra_args=()):
        self.name = name
        self.ini = os.path.join(TMP, name + ".ini")
        with open(self.ini, "w") as f:
            f.write("[server]\nport = 0\n")
            for k, v in keys.items():
                f.write("%s = %s\n" % (k, v))
            f.write("[engine]\nthreads = 1\n")
        self.err = open(os.path.join(TMP, name + ".err"), "w+")
        self.proc = subprocess.Popen(
            [PLMM, "serve", "-m", MODEL, "-c", self.ini, *extra_args],
            stdout=subprocess.PIPE, stderr=self.err, text=True)
        servers.append(self)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on http://"):
            self.err.seek(0)
            raise SystemExit("%s: server did not start: %r %s" % (name, line, self.err.read()))
        self.port = int(line.strip().rsplit(":", 1)[1])
        self.host = "127.0.0.1"

    def conn(self, timeout=60):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, raw=False):
        c = self.conn()
        hdrs = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        c.request(method, path, body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        c.close()
        if raw:
            return r.status, r, data
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        return r.status, r, parsed

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            check(False, "%s: did not exit within %d s of %s" % (self.name, timeout, sig))
        self.err.seek(0)
        errtext = self.err.read()
        check(rc == 0, "%s: exit status %s after %s; stderr:\n%s" % (self.name, rc, sig,
                                                                      errtext[-3000:]))
        return rc, errtext


def error_of(status, body, want_status, param=None, code=None, what=""):
    ok = check(status == want_status, "%s: status %s, expected %s (%s)" % (what, status,
                                                                          want_status, body))
    if not check(isinstance(body, dict) and isinstance(body.get("error"), dict),
                 "%s: no OpenAI error body: %r" % (what, body)):
        return
    e = body["error"]
    check(all(k in e for k in ("message", "type", "param", "code")),
          "%s: error body lacks fields: %r" % (what, e))
    check(isinstance(e.get("message"), str) and len(e["message"]) > 10,
          "%s: empty message" % what)
    if param is not None:
        check(e.get("param") == param, "%s: param %r, expected %r" % (what, e.get("param"), param))
        check(param.split("[")[0] in e.get("message", ""),
              "%s: message does not name %r: %r" % (what, param, e.get("message")))
    if code is not None:
        check(e.get("code") == code, "%s: code %r, expected %r" % (what, e.get("code"), code))
    return ok


def sse_events(resp):
    """The data payloads of an SSE response, in order (raw strings)."""
    events = []
    buf = b""
    while True:
        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(1)
        if not chunk:
            break
        buf += chunk
    for block in buf.decode("utf-8").split("\n\n"):
        if not block:
            continue
        for line in block.split("\n"):
            check(line.startswith("data: "), "SSE line without 'data: ': %r" % line)
            events.append(line[6:])
    return events


def stream(srv, path, body):
    c = srv.conn()
    c.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    check(r.status == 200, "stream %s: status %s" % (path, r.status))
    check(r.getheader("Content-Type", "").startswith("text/event-stream"),
          "stream content type %r" % r.getheader("Content-Type"))
    ev = sse_events(r)
    c.close()
    return ev


def plmm_run(prompt, n):
    out = subprocess.run([PLMM, "run", "-m", MODEL, "-p", prompt, "-n", str(n), "--temp", "0",
                          "-t", "1"], capture_output=True, text=True, check=True)
    return out.stdout[:-1] if out.stdout.endswith("\n") else out.stdout


PROMPT = "Once upon a time"

# ---- server A: endpoints, formats, errors, bundles, concurrency, log ----

bundles = os.path.join(TMP, "bundles")
os.makedirs(bundles)
with open(os.path.join(bundles, "finance-1.2.bundle"), "wb") as f:
    f.write(bytes(range(256)) * 40)
with open(os.path.join(bundles, ".hidden"), "w") as f:
    f.write("TOP-SECRET-HIDDEN")
with open(os.path.join(TMP, "outside.txt"), "w") as f:
    f.write("TOP-SECRET-OUTSIDE")
os.symlink(os.path.join(TMP, "outside.txt"), os.path.join(bundles, "link.bundle"))
log_path = os.path.join(TMP, "requests.jsonl")

A = Server("a", {"slots": 2, "queue": 16, "ctx": 128, "max_tokens": 64,
                 "max_body_bytes": 4096, "request_log": log_path, "log_bodies": "true",
                 "bundles_dir": bundles})

# health and models
st, r, body = A.request("GET", "/health")
check(st == 200 and body.get("status") == "ok" and body.get("slots") == 2, "health: %r" % body)
st, r, body = A.request("GET", "/v1/models")
check(st == 200 and body["object"] == "list" and body["data"][0]["id"] == "stories260K-Q8_0"
      and body["data"][0]["object"] == "model", "models: %r" % body)
st, r, body = A.request("GET", "/v1/models/stories260K-Q8_0")
check(st == 200 and body.get("id") == "stories260K-Q8_0", "model by id: %r" % body)
st, r, body = A.request("GET", "/v1/models/gpt-5")
error_of(st, body, 404, code="model_not_found", what="unknown model id")

# completions: greedy output equals `plmm run`
expected = plmm_run(PROMPT, 24)
st, r, body = A.request("POST", "/v1/completions",
                        {"model": "x", "prompt": PROMPT, "max_tokens": 24, "temperature": 0})
check(st == 200, "completion status %s %r" % (st, body))
if st == 200:
    ch = body["choices"][0]
    check(body["object"] == "text_completion" and body["id"].startswith("cmpl-"),
          "completion object/id: %r" % body)
    check(ch["text"] == expected, "greedy completion %r != plmm run %r" % (ch["text"], expected))
    check(ch["finish_reason"] == "length", "finish_reason %r" % ch["finish_reason"])
    u = body["usage"]
    check(u["completion_tokens"] == 24 and u["prompt_tokens"] == 5 and
          u["total_tokens"] == 29, "usage %r" % u)
    check(r.getheader("Content-Type") == "application/json", "content type")
    check("plmm_receipt" not in body, "receipt without a hook")
# a prompt given as token ids gives the same text
st, r, tok = A.request("POST", "/v1/completions",
                       {"prompt": [1, 403, 407, 261, 378], "max_tokens": 24, "temperature": 0})
check(st == 200 and tok["choices"][0]["text"] == expected, "token-id prompt: %s %r" % (st, tok))

# streamed completion: same text, proper framing
ev = stream(A, "/v1/completions", {"prompt": PROMPT, "max_tokens": 24, "temperature": 0,
                                   "stream": True})
check(len(ev) >= 3 and ev[-1] == "[DONE]", "completion stream ends with [DONE]: %r" % ev[-2:])
chunks = [json.loads(e) for e in ev[:-1]]
text = "".join(c["choices"][0]["text"] for c in chunks)
check(text == expected, "streamed text %r != %r" % (text, expected))
check(all(c["object"] == "text_completion" for c in chunks), "stream chunk objects")
check(chunks[-1]["choices"][0]["finish_reason"] == "length" and
      chunks[-1]["usage"]["completion_tokens"] == 24, "final chunk: %r" % chunks[-1])
check(all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1]),
      "finish_reason only in the final chunk")
check(len({c["id"] for c in chunks}) == 1, "one id per stream")

# chat, non-stream and stream agree
chat_req = {"model": "stories260K-Q8_0", "temperature": 0, "max_tokens": 12,
            "messages": [{"role": "system", "content": "You tell stories."},
                         {"role": "user", "content": "Tell me about Lily."}]}
st, r, body = A.request("POST", "/v1/chat/completions", chat_req)
check(st == 200, "chat status %s %r" % (st, body))
chat_text = None
if st == 200:
    ch = body["choices"][0]
    chat_text = ch["message"]["content"]
    check(body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-"),
          "chat object %r" % body)
    check(ch["message"]["role"] == "assistant" and isinstance(chat_text, str) and chat_text,
          "chat message %r" % ch)
    check(body["usage"]["completion_tokens"] == 12 and ch["finish_reason"] == "length",
          "chat usage %r" % body["usage"])
    check(body["model"] == "stories260K-Q8_0", "chat model %r" % body["model"])
ev = stream(A, "/v1/chat/completions", dict(chat_req, stream=True,
                                            stream_options={"include_usage": True}))
check(ev[-1] == "[DONE]", "chat stream ends with [DONE]")
chunks = [json.loads(e) for e in ev[:-1]]
check(chunks[0]["choices"][0]["delta"].get("role") == "assistant", "first delta has the role")
check(all(c["object"] == "chat.completion.chunk" for c in chunks), "chat chunk objects")
text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
check(text == chat_text, "chat stream %r != non-stream %r" % (text, chat_text))
fin = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
check(len(fin) == 1 and fin[0]["choices"][0]["finish_reason"] == "length" and
      fin[0]["usage"]["completion_tokens"] == 12, "one final chunk with usage: %r" % fin)
check(chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] ==
      chunks[-1]["usage"]["prompt_tokens"] + 12, "include_usage chunk: %r" % chunks[-1])

# content parts and developer role
st, r, body = A.request("POST", "/v1/chat/completions", {
    "max_tokens": 4, "messages": [{"role": "developer", "content": "Be brief."},
                                  {"role": "user", "content": [{"type": "text", "text": "Hi"}]}]})
check(st == 200, "content parts: %s %r" % (st, body))

# stop strings: cut before the stop, finish_reason stop, streamed the same
cut = expected.find(" named")
check(cut > 0, "stop test needs ' named' in %r" % expected)
st, r, body = A.request("POST", "/v1/completions", {"prompt": PROMPT, "max_tokens": 24,
                                                    "temperature": 0, "stop": [" named", "zzz"]})
check(st == 200 and body["choices"][0]["text"] == expected[:cut] and
      body["choices"][0]["finish_reason"] == "stop", "stop: %r" % body)
ev = stream(A, "/v1/completions", {"prompt": PROMPT, "max_tokens": 24, "temperature": 0,
                                   "stop": " named", "stream": True})
text = "".join(json.loads(e)["choices"][0]["text"] for e in ev[:-1])
check(text == expected[:cut], "streamed stop %r != %r" % (text, expected[:cut]))

# sampling fields are accepted; the same seed gives the same text
samp = {"prompt": PROMPT, "max_tokens": 16, "temperature": 0.9, "top_p": 0.9, "top_k": 20,
        "seed": 1234, "presence_penalty": 0.1, "frequency_penalty": 0.1}
s1 = A.request("POST", "/v1/completions", samp)
s2 = A.request("POST", "/v1/completions", samp)
check(s1[0] == 200 and s2[0] == 200 and s1[2]["choices"][0]["text"] ==
      s2[2]["choices"][0]["text"], "same seed, same text: %r %r" % (s1[2], s2[2]))

# errors
bad = [
    ("bad JSON", "/v1/chat/completions", '{"messages": [', 400, None, "invalid_json"),
    ("not an object", "/v1/chat/completions", "[1,2]", 400, None, "invalid_json"),
    ("temperature type", "/v1/completions", {"prompt": "a", "temperature": "hot"}, 400,
     "temperature", "invalid_type"),
    ("temperature range", "/v1/completions", {"prompt": "a", "temperature": 7}, 400,
     "temperature", None),
    ("top_k type", "/v1/completions", {"prompt": "a", "top_k": 1.5}, 400, "top_k", None),
    ("stream type", "/v1/completions", {"prompt": "a", "stream": "yes"}, 400, "stream", None),
    ("missing messages", "/v1/chat/completions", {"model": "x"}, 400, "messages",
     "missing_field"),
    ("messages type", "/v1/chat/completions", {"messages": "hi"}, 400, "messages", None),
    ("empty messages", "/v1/chat/completions", {"messages": []}, 400, "messages", None),
    ("role missing", "/v1/chat/completions", {"messages": [{"content": "x"}]}, 400,
     "messages[0].role", None),
    ("bad role", "/v1/chat/completions", {"messages": [{"role": "wizard", "content": "x"}]},
     400, "messages[0].role", None),
    ("content type", "/v1/chat/completions", {"messages": [{"role": "user", "content": 5}]},
     400, "messages[0].content", None),
    ("image part", "/v1/chat/completions", {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "x"}}]}]}, 400, "messages[0].content", None),
    ("missing prompt", "/v1/completions", {"max_tokens": 3}, 400, "prompt", "missing_field"),
    ("prompt batch", "/v1/completions", {"prompt": ["a", "b"]}, 400, "prompt", None),
    ("token id range", "/v1/completions", {"prompt": [1, 99999999]}, 400, "prompt[1]", None),
    ("n=2", "/v1/completions", {"prompt": "a", "n": 2}, 400, "n", "unsupported_value"),
    ("too many max_tokens", "/v1/completions", {"prompt": "a", "max_tokens": 65}, 400,
     "max_tokens", "max_tokens_exceeded"),
    ("max_tokens 0", "/v1/completions", {"prompt": "a", "max_tokens": 0}, 400, "max_tokens",
     None),
    ("max_tokens type", "/v1/completions", {"prompt": "a", "max_tokens": "10"}, 400,
     "max_tokens", "invalid_type"),
    ("stop count", "/v1/completions", {"prompt": "a", "stop": ["a", "b", "c", "d", "e"]}, 400,
     "stop", None),
    ("stop type", "/v1/completions", {"prompt": "a", "stop": [1]}, 400, "stop[0]", None),
    ("logprobs", "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}],
                                          "logprobs": True}, 400, "logprobs", None),
    ("tools", "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}],
                                       "tools": [{"type": "function"}]}, 400, "tools", None),
    ("json mode", "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}],
                                           "response_format": {"type": "json_object"}}, 400,
     "response_format", None),
    ("echo", "/v1/completions", {"prompt": "a", "echo": True}, 400, "echo", None),
    ("prompt too long", "/v1/completions", {"prompt": "Lily went to the park. " * 40}, 400,
     "prompt", "context_length_exceeded"),
    ("duplicate key", "/v1/completions", '{"prompt": "a", "prompt": "b"}', 400, None,
     "invalid_json"),
]
for what, path, req, want, param, code in bad:
    st, r, body = A.request("POST", path, req if isinstance(req, dict) else req.encode())
    error_of(st, body, want, param, code, what)

# sizes: Content-Length over the limit, and a chunked body over the limit
big = json.dumps({"prompt": "x" * 5000})
st, r, body = A.request("POST", "/v1/completions", big.encode())
error_of(st, body, 413, code="request_too_large", what="oversized body")
c = A.conn()
c.putrequest("POST", "/v1/completions")
c.putheader("Transfer-Encoding", "chunked")
c.putheader("Content-Type", "application/json")
c.endheaders()
for i in range(0, len(big), 1000):
    part = big[i:i + 1000].encode()
    c.send(b"%x\r\n%s\r\n" % (len(part), part))
c.send(b"0\r\n\r\n")
r = c.getresponse()
error_of(r.status, json.loads(r.read()), 413, what="oversized chunked body")
c.close()

# hostile bodies: mutated valid requests get 200 or a 400 error body, never a crash
import random
rng = random.Random(20261127)
seeds = [json.dumps(chat_req), json.dumps({"prompt": PROMPT, "max_tokens": 4, "stop": ["x"]}),
         json.dumps({"prompt": [1, 403, 407], "max_tokens": 3, "seed": 7, "top_k": 3}),
         json.dumps({"messages": [{"role": "user", "content": [{"type": "text", "text": "é"}]}],
                     "max_tokens": 2, "stream": True})]
statuses = {}
for i in range(150):
    body = bytearray(rng.choice(seeds).encode())
    for _ in range(rng.randint(1, 4)):
        op = rng.randint(0, 3)
        pos = rng.randrange(len(body) + 1)
        if op == 0:
            body[pos:pos + 1] = bytes([rng.randrange(256)])
        elif op == 1:
            del body[pos:pos + rng.randint(1, 8)]
        elif op == 2:
            body[pos:pos] = rng.choice([b"{", b"}", b"[", b"]", b",", b'"', b"\\", b"\\u0000",
                                        b"1e999", b"-1", b"null", b"\xff\xfe", b"true"])
        else:
            body = body[:pos]
    path = "/v1/chat/completions" if i % 2 else "/v1/completions"
    try:
        st, r, data = A.request("POST", path, bytes(body), raw=True)
    except Exception as e:  # noqa: BLE001
        check(False, "mutated request %d raised %r (body %r)" % (i, e, bytes(body)))
        break
    statuses[st] = statuses.get(st, 0) + 1
    if st != 200:
        ok = st in (400, 413)
        try:
            ok = ok and "message" in json.loads(data)["error"]
        except (ValueError, KeyError, TypeError):
            ok = False
        check(ok, "mutated request %d: %s %r for %r" % (i, st, data[:200], bytes(body)))
check(statuses.get(400, 0) > 50, "mutations mostly rejected: %r" % statuses)
st, r, body = A.request("GET", "/health")
check(st == 200, "alive after hostile bodies")

# routes and methods
st, r, body = A.request("GET", "/v1/nothing")
error_of(st, body, 404, code="not_found", what="unknown route")
st, r, body = A.request("GET", "/v1/chat/completions")
error_of(st, body, 405, what="GET on chat")
check(r.getheader("Allow") == "POST", "Allow header %r" % r.getheader("Allow"))
st, r, body = A.request("DELETE", "/v1/models")
error_of(st, body, 405, what="DELETE on models")

# bundles: listing, exact bytes with content-length, no traversal, no symlinks
st, r, body = A.request("GET", "/v1/bundles")
check(st == 200 and [b["name"] for b in body["data"]] == ["finance-1.2.bundle"],
      "bundle list %r" % body)
st, r, data = A.request("GET", "/v1/bundles/finance-1.2.bundle", raw=True)
check(st == 200 and data == bytes(range(256)) * 40, "bundle bytes (%s, %d)" % (st, len(data)))
check(r.getheader("Content-Length") == str(256 * 40), "bundle content-length %r" %
      r.getheader("Content-Length"))
check(r.getheader("Content-Type") == "application/octet-stream", "bundle content type")
st, r, data = A.request("HEAD", "/v1/bundles/finance-1.2.bundle", raw=True)
check(st == 200 and data == b"" and r.getheader("Content-Length") == str(256 * 40),
      "HEAD on a bundle: %s %r" % (st, r.getheader("Content-Length")))
for path in ["/v1/bundles/../outside.txt", "/v1/bundles/..%2foutside.txt",
             "/v1/bundles/%2e%2e%2foutside.txt", "/v1/bundles/.hidden", "/v1/bundles/link.bundle",
             "/v1/bundles/missing.bundle", "/v1/bundles/sub/x", "/v1/bundles/"]:
    st, r, data = A.request("GET", path, raw=True)
    check(st in (400, 404) and b"TOP-SECRET" not in data,
          "bundle path %s: %s %r" % (path, st, data[:200]))
st, r, body = A.request("POST", "/v1/bundles/finance-1.2.bundle", {})
error_of(st, body, 405, what="POST on a bundle")

# concurrency: 16 clients at once on 2 slots, all answered, greedy text intact
results = [None] * 16


def worker(i):
    try:
        if i % 2:
            ev = stream(A, "/v1/completions", {"prompt": PROMPT, "max_tokens": 24,
                                               "temperature": 0, "stream": True})
            results[i] = "".join(json.loads(e)["choices"][0]["text"] for e in ev[:-1])
        else:
            st, r, body = A.request("POST", "/v1/completions", {"prompt": PROMPT,
                                                                "max_tokens": 24,
                                                                "temperature": 0})
            results[i] = body["choices"][0]["text"] if st == 200 else "status %d" % st
    except Exception as e:  # noqa: BLE001 - reported as a failure below
        results[i] = "exception %r" % e


threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
for t in threads:
    t.start()
for t in threads:
    t.join(120)
check(all(r == expected for r in results), "concurrent results: %r" % results)

# the request log: one JSON line per request with what the server received
marker = {"prompt": PROMPT, "max_tokens": 3, "temperature": 0, "user": "log-marker-42"}
st, r, body = A.request("POST", "/v1/completions", marker)
time.sleep(0.2)
with open(log_path) as f:
    lines = [json.loads(line) for line in f]
mine = [e for e in lines if isinstance(e.get("body"), dict) and
        e["body"].get("user") == "log-marker-42"]
check(len(mine) == 1, "log has the marked request once: %d" % len(mine))
if mine:
    e = mine[0]
    check(e["body"] == marker, "logged body %r" % e["body"])
    check(e["method"] == "POST" and e["path"] == "/v1/completions" and e["status"] == 200,
          "log fields %r" % e)
    check(e["model"] == "stories260K-Q8_0" and e["prompt_tokens"] == 5 and
          e["completion_tokens"] == 3 and e["finish_reason"] == "length", "log usage %r" % e)
    check(e["remote"].startswith("127.0.0.1:") and e["duration_ms"] >= 0 and
          e["time"].endswith("Z") and e["id"] == body["id"], "log meta %r" % e)
check(any(e["path"] == "/v1/nothing" and e["status"] == 404 for e in lines), "404 logged")
check(any(e["status"] == 413 for e in lines), "413 logged")
check(sum(1 for e in lines if e["path"] == "/v1/completions" and e["status"] == 200) >= 20,
      "completions logged")
A.stop()

# ---- server B: authentication ----

B = Server("b", {"api_key": "sekrit-key"}, ["--port", "0"])
st, r, body = B.request("GET", "/v1/models")
error_of(st, body, 401, code="missing_api_key", what="no key")
check(r.getheader("WWW-Authenticate") == "Bearer", "WWW-Authenticate header")
st, r, body = B.request("GET", "/v1/models", headers={"Authorization": "Bearer wrong"})
error_of(st, body, 401, code="invalid_api_key", what="wrong key")
st, r, body = B.request("POST", "/v1/completions", {"prompt": "a", "max_tokens": 2},
                        headers={"Authorization": "Basic c2Vrcml0LWtleQ=="})
error_of(st, body, 401, what="basic auth")
st, r, body = B.request("GET", "/v1/models", headers={"Authorization": "Bearer sekrit-key"})
check(st == 200, "right key: %s" % st)
st, r, body = B.request("GET", "/health")
check(st == 200, "health needs no key: %s" % st)
B.stop(signal.SIGINT)

# ---- server C: queue full, then SIGTERM cancels a running stream ----

C = Server("c", {"slots": 1, "queue": 1, "token_delay_ms": 100, "shutdown_grace_ms": 0,
                 "max_tokens": 200})
slow = {"prompt": PROMPT, "max_tokens": 200, "temperature": 0, "stream": True}
c1 = C.conn()
c1.request("POST", "/v1/completions", body=json.dumps(slow))
r1 = c1.getresponse()
check(r1.status == 200, "slow stream status %s" % r1.status)
first = r1.read1(65536)
check(first.startswith(b"data: "), "slow stream started: %r" % first[:80])
queued_result = {}


def queued():
    st, r, body = C.request("POST", "/v1/completions", {"prompt": PROMPT, "max_tokens": 5})
    queued_result["st"], queued_result["body"] = st, body


tq = threading.Thread(target=queued)
tq.start()
deadline = time.time() + 10
while time.time() < deadline:
    st, r, h = C.request("GET", "/health")
    if h["queued"] == 1:
        break
    time.sleep(0.05)
check(h["slots_busy"] == 1 and h["queued"] == 1, "health under load %r" % h)
st, r, body = C.request("POST", "/v1/completions", {"prompt": PROMPT, "max_tokens": 5})
error_of(st, body, 503, code="queue_full", what="queue full")
check("queue" in body["error"]["message"] and r.getheader("Retry-After") is not None,
      "queue-full message and Retry-After: %r" % body)
C.proc.send_signal(signal.SIGTERM)
rest = b""
while True:
    b = r1.read1(65536)
    if not b:
        break
    rest += b
c1.close()
tail = [e for e in (first + rest).decode().split("\n\n") if e]
check(len(tail) >= 2 and '"error"' in tail[-1] and "[DONE]" not in tail[-1] and
      "shutting down" in tail[-1], "cancelled stream ends with an error event: %r" % tail[-2:])
tq.join(30)
error_of(queued_result.get("st"), queued_result.get("body"), 503, code="shutting_down",
         what="queued request at shutdown")
rc, err = C.stop()
check("SIGTERM received" in err, "stop message on stderr")
try:
    socket.create_connection(("127.0.0.1", C.port), timeout=2).close()
    check(False, "port still open after shutdown")
except OSError:
    pass

# ---- server D: SIGTERM lets a running stream finish within the grace period ----

D = Server("d", {"token_delay_ms": 30, "shutdown_grace_ms": 20000})
# a streaming client that leaves cancels its request: the slot frees up
d0 = D.conn()
d0.request("POST", "/v1/completions", body=json.dumps({"prompt": PROMPT, "max_tokens": 300,
                                                        "stream": True}))
r0 = d0.getresponse()
check(r0.read1(65536).startswith(b"data: "), "stream to abandon started")
d0.sock.shutdown(socket.SHUT_RDWR)
d0.close()
deadline = time.time() + 5
while time.time() < deadline:
    st, r, h = D.request("GET", "/health")
    if h["slots_busy"] == 0:
        break
    time.sleep(0.05)
check(h["slots_busy"] == 0, "abandoned stream still generating: %r" % h)
d1 = D.conn()
d1.request("POST", "/v1/chat/completions", body=json.dumps({
    "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 30, "temperature": 0,
    "stream": True}))
r1 = d1.getresponse()
first = r1.read1(65536)
D.proc.send_signal(signal.SIGTERM)
time.sleep(0.2)
try:
    socket.create_connection(("127.0.0.1", D.port), timeout=2).close()
    check(False, "new connections refused while shutting down")
except OSError:
    pass
rest = b""
while True:
    b = r1.read1(65536)
    if not b:
        break
    rest += b
events = [e for e in (first + rest).decode().split("\n\n") if e]
check(events[-1] == "data: [DONE]", "graceful stream ends with [DONE]: %r" % events[-2:])
last = json.loads(events[-2][6:])
check(last["choices"][0]["finish_reason"] == "length" and
      last["usage"]["completion_tokens"] == 30, "graceful final chunk %r" % last)
D.stop()

# ---- command line ----

out = subprocess.run([PLMM, "serve", "--help"], capture_output=True, text=True, timeout=60)
check(out.returncode == 0 and "usage: plmm serve" in out.stdout and "--port" in out.stdout,
      "serve --help: %r" % out.stdout[:300])
out = subprocess.run([PLMM, "serve", "--bogus"], capture_output=True, text=True, timeout=60)
check(out.returncode == 2 and "'--bogus'" in out.stderr, "serve --bogus: %r" % out.stderr)
out = subprocess.run([PLMM, "serve", "-m", MODEL, "--slots", "0"], capture_output=True,
                     text=True, timeout=60)
check(out.returncode == 2 and "--slots" in out.stderr, "serve --slots 0: %r" % out.stderr)

# ---- startup errors ----

busy = socket.socket()
busy.bind(("127.0.0.1", 0))
busy.listen(1)
out = subprocess.run([PLMM, "serve", "-m", MODEL, "--port", str(busy.getsockname()[1])],
                     capture_output=True, text=True, timeout=60)
check(out.returncode == 1 and "cannot listen" in out.stderr, "port in use: %r" % out.stderr)
busy.close()
out = subprocess.run([PLMM, "serve", "-m", MODEL, "--set", "server.slots=4", "--set",
                      "server.queue=100", "--set", "server.max_connections=50"],
                     capture_output=True, text=True, timeout=60)
check(out.returncode == 1 and "max_connections" in out.stderr, "connections vs queue: %r" %
      out.stderr)
out = subprocess.run([PLMM, "serve", "-m", MODEL, "--port", "70000"], capture_output=True,
                     text=True, timeout=60)
check(out.returncode == 2 and "--port" in out.stderr, "bad port: %r" % out.stderr)
out = subprocess.run([PLMM, "serve", "-m", MODEL, "--set", "server.bundles_dir=/nonexistent"],
                     capture_output=True, text=True, timeout=60)
check(out.returncode == 1 and "bundles_dir" in out.stderr, "bad bundles_dir: %r" % out.stderr)
out = subprocess.run([PLMM, "serve", "-m", MODEL, "--request-log", "/nonexistent/dir/r.jsonl"],
                     capture_output=True, text=True, timeout=60)
check(out.returncode == 1 and "request log" in out.stderr, "bad request_log: %r" % out.stderr)

print("server: %d checks, %d failed" % (checks, failures))
sys.exit(1 if failures else 0)
