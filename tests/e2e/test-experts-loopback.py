#!/usr/bin/env python3
"""Experts end to end on loopback (suite 'e2e').

    test-experts-loopback.py PLMM EXPERT_CONSULT MODEL

Two `plmm serve` instances play the finance E-model and the T-model (both
serve MODEL, the shipped stories260K, under different model ids, with
request logs that record the bodies they receive).

Part A, the expert chain (runs now): expert-consult opens the finance
expert from its [expert.finance] section, opens its openai connector to the
first server and consults it. Asserted: the first server received exactly
the finance system prompt and the question, the second server nothing; the
finance check ran on the real answer (the stories model writes no risk
disclaimer, so the default check fails it and `disclaimer = off` passes
it); with the E-model server stopped the consultation fails quickly with a
message naming the endpoint.

Part B, routing through `plmm ask --explain` (needs the router and the
command): a finance question goes to the first server only, a general
question beyond the P-model to the second only, a simple one stays local,
and with the finance server down the finance question falls back to the
T-model with a visible notice. Asserted from the transcripts, the --explain
output (its "answered by:" line and the notices) and both request logs.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

PLMM, CONSULT, MODEL = sys.argv[1], sys.argv[2], sys.argv[3]
TMP = tempfile.mkdtemp(prefix="plmm-experts-loopback-")
failures = 0
checks = 0

FINANCE_PROMPT_START = "You are a careful personal-finance and investing expert."
FINANCE_Q = "Should I pay off my mortgage early or invest the money in an index fund?"
GENERAL_Q = "Explain in detail the political causes of the French Revolution of 1789."
SIMPLE_Q = "Once upon a time there was a little girl named Lily."
MAIL = "anna.berger@example.org"
MAIL_Q = "Should I invest my savings in an index fund? Write to me at %s." % MAIL
# [router] thresholds for part B: the stories model has no chat template, so
# it drafts by continuing the question; it is confident on SIMPLE_Q (mean
# log-prob about -0.25, entropy 0.7 over 8 tokens) and not on GENERAL_Q
# (about -0.87 and 2.0), so this keeps SIMPLE_Q local and sends GENERAL_Q to
# the T-model.
ROUTER_SECTION = "[router]\ndraft_tokens = 8\nmin_logprob = -0.5\nmax_entropy = 1.2\nmax_tokens = 16\n"


def check(cond, what):
    global failures, checks
    checks += 1
    if not cond:
        failures += 1
        print("FAIL:", what, flush=True)
    return cond


class Server:
    def __init__(self, name, model_id):
        self.name = name
        self.log = os.path.join(TMP, name + "-requests.jsonl")
        ini = os.path.join(TMP, name + ".ini")
        with open(ini, "w") as f:
            f.write("[server]\nport = 0\nmodel_id = %s\nrequest_log = %s\nlog_bodies = true\n"
                    "[engine]\nthreads = 1\n" % (model_id, self.log))
        self.err = open(os.path.join(TMP, name + ".err"), "w+")
        self.proc = subprocess.Popen([PLMM, "serve", "-m", MODEL, "-c", ini],
                                     stdout=subprocess.PIPE, stderr=self.err, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on http://"):
            self.err.seek(0)
            raise SystemExit("%s: server did not start: %r %s" % (name, line, self.err.read()))
        self.port = int(line.strip().rsplit(":", 1)[1])
        self.endpoint = "http://127.0.0.1:%d/v1" % self.port

    def entries(self):
        """Completed requests in the log (one JSON object per line)."""
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [json.loads(l) for l in f if l.strip()]

    def chat_entries(self, want=None, wait=10.0):
        """Chat requests in the log. The server appends an entry when the
        request completes, which may be just after the client has its answer:
        with want, wait up to `wait` seconds for that many entries."""
        deadline = time.monotonic() + wait
        while True:
            got = [e for e in self.entries() if e.get("path") == "/v1/chat/completions"]
            if want is None or len(got) >= want or time.monotonic() > deadline:
                return got
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        check(rc == 0, "%s: exit status %s after SIGTERM" % (self.name, rc))


def write_ini(name, e_server, t_server, finance_extra="", router="", share="full"):
    path = os.path.join(TMP, name + ".ini")
    with open(path, "w") as f:
        f.write("[engine]\nmodel = %s\nthreads = 1\n" % MODEL)
        f.write("[expert.finance]\nconnector = openai\nendpoint = %s\nshare = %s\n"
                "max_tokens = 16\ntimeout = 20\nconnect_timeout = 2\nmax_retries = 0\n%s"
                % (e_server.endpoint, share, finance_extra))
        f.write("[tmodel]\nconnector = openai\nendpoint = %s\nshare = full\nmax_tokens = 16\n"
                "timeout = 20\nconnect_timeout = 2\nmax_retries = 0\n" % t_server.endpoint)
        f.write(router)
    return path


def consult(ini, question, timeout=60):
    t0 = time.monotonic()
    p = subprocess.run([CONSULT, ini, "finance", question], capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


def part_a():
    e = Server("finance-e", "finance-e")
    t = Server("t-model", "t-model")
    try:
        ini = write_ini("consult", e, t)
        rc, out, err, _ = consult(ini, FINANCE_Q)
        check(rc == 0, "consult: exit %d, stderr %r" % (rc, err))
        m = re.search(r"^answer: (.*)$", out, re.M)
        check(m is not None and len(m.group(1).strip()) > 0, "consult: no answer in %r" % out)
        check(re.search(r"^check: fail no risk disclaimer", out, re.M) is not None,
              "finance check on the stories answer: %r" % out)
        u = re.search(r"^usage: (\d+) (\d+)$", out, re.M)
        check(u is not None and int(u.group(1)) > 0 and 0 < int(u.group(2)) <= 16,
              "usage line: %r" % out)

        got = e.chat_entries(want=1)
        check(len(got) == 1, "finance server: %d chat requests, expected 1" % len(got))
        if got:
            r = got[0]
            check(r.get("status") == 200 and r.get("model") == "finance-e",
                  "finance server log entry: %r" % r)
            msgs = (r.get("body") or {}).get("messages") or []
            check(len(msgs) == 2 and msgs[0].get("role") == "system"
                  and msgs[0].get("content", "").startswith(FINANCE_PROMPT_START),
                  "system prompt sent: %r" % msgs[:1])
            check(len(msgs) == 2 and msgs[1] == {"role": "user", "content": FINANCE_Q},
                  "question sent: %r" % msgs[1:])
            check((r.get("body") or {}).get("max_tokens") == 16, "max_tokens sent: %r" % r)
        check(t.entries() == [], "T-model server got requests: %r" % t.entries())

        # the plugin's own option reaches its check
        ini_off = write_ini("consult-off", e, t, finance_extra="disclaimer = off\n")
        rc, out, err, _ = consult(ini_off, FINANCE_Q)
        check(rc == 0 and re.search(r"^check: (pass|warn)", out, re.M) is not None,
              "disclaimer = off: %r %r" % (out, err))
        check(len(e.chat_entries(want=2)) == 2,
              "finance server: %d requests after two consultations" % len(e.chat_entries()))

        # the E-model server goes away: a clear error, quickly
        e.stop()
        rc, out, err, secs = consult(ini, FINANCE_Q)
        check(rc == 1 and err.startswith("error: "), "consult with the server down: %d %r"
              % (rc, err))
        check(("127.0.0.1:%d" % e.port) in err or "connect" in err.lower(),
              "error names the endpoint: %r" % err)
        check(secs < 15, "consult with the server down took %.1f s" % secs)
        check(t.entries() == [], "T-model server got requests: %r" % t.entries())
    finally:
        e.stop()
        t.stop()


def ask_available():
    try:
        p = subprocess.run([PLMM, "ask", "--help"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return False, "plmm ask --help did not finish"
    if p.returncode != 0:
        return False, ("`plmm ask` is not available in this build (%s); the router and the "
                       "command (issue 9 items 3 and 5) enable this part"
                       % (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[0])
    return True, ""


def ask(ini, question):
    p = subprocess.run([PLMM, "ask", "-c", ini, "--explain", question], capture_output=True,
                       text=True, timeout=300)
    return p.returncode, p.stdout + p.stderr


def answered_by(text):
    """The router's "answered by: WHO" line of the --explain output."""
    m = re.search(r"^answered by: (.*)$", text, re.M)
    return m.group(1) if m else ""


def part_b():
    ok, why = ask_available()
    if not ok:
        print("SKIP part B (routing through plmm ask):", why, flush=True)
        return
    e = Server("finance-e2", "finance-e")
    t = Server("t-model2", "t-model")
    try:
        ini = write_ini("ask", e, t, finance_extra="disclaimer = off\n", router=ROUTER_SECTION)

        rc, text = ask(ini, FINANCE_Q)
        check(rc == 0, "ask finance: exit %d: %s" % (rc, text))
        check(re.search(r"expert[ :'\"]*finance|finance expert", answered_by(text), re.I)
              is not None, "ask finance: explanation does not name the finance expert: %s" % text)
        check(len(e.chat_entries(want=1)) == 1 and len(t.entries()) == 0,
              "ask finance: E requests %d, T requests %d" % (len(e.chat_entries()),
                                                            len(t.entries())))

        rc, text = ask(ini, GENERAL_Q)
        check(rc == 0, "ask general: exit %d: %s" % (rc, text))
        check(re.search(r"t-?model", answered_by(text), re.I) is not None,
              "ask general: explanation does not name the T-model: %s" % text)
        check(len(e.chat_entries()) == 1 and len(t.chat_entries(want=1)) == 1,
              "ask general: E requests %d, T requests %d" % (len(e.chat_entries()),
                                                            len(t.chat_entries())))

        rc, text = ask(ini, SIMPLE_Q)
        check(rc == 0, "ask simple: exit %d: %s" % (rc, text))
        check(re.search(r"local|p-?model", answered_by(text), re.I) is not None,
              "ask simple: explanation does not say it stayed local: %s" % text)
        check(len(e.chat_entries()) == 1 and len(t.chat_entries()) == 1,
              "ask simple: a server was consulted (E %d, T %d)" % (len(e.chat_entries()),
                                                                  len(t.chat_entries())))

        # share = pseudonymized: the e-mail address leaves as a placeholder,
        # and the request is in the audit log
        audit = os.path.join(TMP, "audit.log")
        ini_p = write_ini("ask-pseudo", e, t, finance_extra="disclaimer = off\n",
                          router=ROUTER_SECTION + "[privacy]\naudit_log = %s\n" % audit,
                          share="pseudonymized")
        rc, text = ask(ini_p, MAIL_Q)
        check(rc == 0 and re.search(r"finance", answered_by(text)) is not None,
              "ask pseudonymized: exit %d: %s" % (rc, text))
        got = e.chat_entries(want=2)
        check(len(got) == 2, "ask pseudonymized: E requests %d" % len(got))
        if len(got) == 2:
            body = json.dumps(got[1].get("body") or {})
            check(MAIL not in body and "<EMAIL_1>" in body,
                  "ask pseudonymized: the E-model received %s" % body)
        check(os.path.exists(audit) and os.path.getsize(audit) > 0,
              "ask pseudonymized: no audit log entry")
        with open(audit) as f:
            check(MAIL not in f.read(), "the audit log holds the address")

        # plmm chat routes each turn: the finance one to the expert, the story
        # opening stays with the P-model (the conversation)
        p = subprocess.run([PLMM, "chat", "-c", ini, "-n", "8", "--temp", "0"],
                           input=FINANCE_Q + "\n" + SIMPLE_Q + "\n", capture_output=True,
                           text=True, timeout=300)
        check(p.returncode == 0, "chat: exit %d: %s" % (p.returncode, p.stderr))
        check(p.stderr.count("[answered by: expert finance]") == 1
              and "[answered by:" not in p.stderr.replace("[answered by: expert finance]", ""),
              "chat: routing lines: %r" % p.stderr)
        check(len(e.chat_entries(want=3)) == 3 and len(t.chat_entries()) == 1,
              "chat: E requests %d, T requests %d" % (len(e.chat_entries()),
                                                      len(t.chat_entries())))
        check(len(p.stdout.strip()) > 0, "chat: no answer on stdout")

        e.stop()
        rc, text = ask(ini, FINANCE_Q)
        check(rc == 0, "ask finance, expert down: exit %d: %s" % (rc, text))
        check(re.search(r"fall(ing)? ?back|unavailable|unreachable", text, re.I) is not None,
              "ask finance, expert down: no visible fallback notice: %s" % text)
        check(re.search(r"t-?model", answered_by(text), re.I) is not None,
              "ask finance, expert down: not answered by the T-model: %s" % text)
        check(len(t.chat_entries(want=2)) == 2, "ask finance, expert down: T requests %d"
              % len(t.chat_entries()))
        got = t.chat_entries()
        if len(got) == 2:
            msgs = (got[1].get("body") or {}).get("messages") or []
            check(msgs == [{"role": "user", "content": FINANCE_Q}],
                  "ask finance, expert down: the T-model got %r" % msgs)

        # the T-model goes away too: the P-model answers, with both notices
        t.stop()
        rc, text = ask(ini, FINANCE_Q)
        check(rc == 0 and re.search(r"local|p-?model", answered_by(text), re.I) is not None,
              "ask finance, all servers down: exit %d: %s" % (rc, text))
        check(len(re.findall(r"unavailable", text)) == 2,
              "ask finance, all servers down: expected two fallback notices: %s" % text)
    finally:
        e.stop()
        t.stop()


part_a()
part_b()
print("test-experts-loopback: %d checks, %d failed" % (checks, failures))
sys.exit(1 if failures else 0)
