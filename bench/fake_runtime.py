#!/usr/bin/env python3
"""A tiny fake AWS Lambda Runtime API, for measuring a function binary on this machine.

Standard library only. For each run it:

1. takes a monotonic timestamp immediately before spawning the binary (subprocess.Popen) with
   AWS_LAMBDA_RUNTIME_API pointing at this server, then
2. records the monotonic time of the binary's first `GET /2018-06-01/runtime/invocation/next`:
   init = that time minus the spawn timestamp (process start, runtime set-up, configuration,
   AWS SDK config load, until the function asks for its first event);
3. unless --init-only, serves one event (the JSON file --event) on that first /next, captures
   the binary's `POST .../invocation/{id}/response` or `.../error` (or `/runtime/init/error`),
4. on the binary's next `/next` (i.e. after it answered), reads VmHWM (peak resident set size)
   and VmRSS from /proc/<pid>/status, then kills the process.

With --init-only, the process is killed as soon as its first /next arrives (no event served).

The outcome is checked with --expect:
  batch-failure=ID  the response is {"batchItemFailures":[{"itemIdentifier":"ID"}]} exactly
  http=CODE         the response is an API Gateway v2 response with statusCode CODE
  response          any /response (not /error)
  none              nothing (use with --init-only)
Exit status is non-zero if any run fails its expectation, times out, or the binary exits early.

Output: one JSON line per run on stderr-free stdout, then a summary JSON line
{"summary": {...}} with init min/median in ms, and the peak RSS figures.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


class Run:
    """State of one run (one spawned process)."""

    def __init__(self, event_bytes, init_only):
        self.event_bytes = event_bytes
        self.init_only = init_only
        self.request_id = str(uuid.uuid4())
        self.next_calls = 0
        self.first_next_ns = None
        self.response_kind = None  # "response", "error", "init-error"
        self.response_body = None
        self.done = threading.Event()  # set when the main thread may measure and kill
        self.killed = threading.Event()  # set once the process is gone


STATE = {"run": None}


def read_proc_status(pid):
    """VmHWM and VmRSS in kB from /proc/<pid>/status (None if the process is gone)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0])
    except OSError:
        return None
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _reply(self, code, body=b"", headers=None):
        try:
            self.send_response(code)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        now = time.monotonic_ns()
        run = STATE["run"]
        if run is None or self.path != f"{PREFIX}/invocation/next":
            self._reply(404, b'{"errorMessage":"unexpected request"}')
            return
        run.next_calls += 1
        if run.next_calls == 1:
            run.first_next_ns = now
            if not run.init_only:
                deadline_ms = int(time.time() * 1000) + 15 * 60 * 1000
                self._reply(
                    200,
                    run.event_bytes,
                    {
                        "Lambda-Runtime-Aws-Request-Id": run.request_id,
                        "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:bench",
                        "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000",
                    },
                )
                return
        # Init-only first call, or the call after the answer: let the main thread measure and
        # kill, and hold this request open until then (like Lambda freezing the sandbox).
        run.done.set()
        run.killed.wait(timeout=30)
        self._reply(410, b"{}")

    def do_POST(self):
        run = STATE["run"]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        if run is None:
            self._reply(404, b"{}")
            return
        if self.path == f"{PREFIX}/invocation/{run.request_id}/response":
            run.response_kind = "response"
        elif self.path == f"{PREFIX}/invocation/{run.request_id}/error":
            run.response_kind = "error"
        elif self.path == f"{PREFIX}/init/error":
            run.response_kind = "init-error"
            run.done.set()
        else:
            self._reply(404, b"{}")
            return
        run.response_body = body.decode("utf-8", "replace")
        self._reply(202, b'{"status":"OK"}')

    def _read_chunked(self):
        data = b""
        while True:
            size = int(self.rfile.readline().strip() or b"0", 16)
            if size == 0:
                # trailers until the blank line
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return data
            data += self.rfile.read(size)
            self.rfile.readline()


def check(expect, run):
    """None if the run met the expectation, else why not."""
    if expect == "none":
        return None
    if run.response_kind != "response":
        return f"expected a /response, got {run.response_kind}: {run.response_body}"
    if expect == "response":
        return None
    try:
        body = json.loads(run.response_body)
    except ValueError:
        return f"response is not JSON: {run.response_body[:500]}"
    if expect.startswith("batch-failure="):
        want = {"batchItemFailures": [{"itemIdentifier": expect.split("=", 1)[1]}]}
        return None if body == want else f"expected {want}, got {body}"
    if expect.startswith("http="):
        code = int(expect.split("=", 1)[1])
        return None if body.get("statusCode") == code else f"expected statusCode {code}, got {json.dumps(body)[:1000]}"
    return f"unknown expectation {expect}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--event", help="JSON file served as the first event")
    parser.add_argument("--init-only", action="store_true", help="kill at the first /next; serve no event")
    parser.add_argument("--expect", default="response")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    parser.add_argument("--log", default="/dev/null", help="file for the binary's stdout/stderr")
    parser.add_argument("--label", default=None)
    args = parser.parse_args()

    event_bytes = b""
    if not args.init_only:
        with open(args.event, "rb") as f:
            event_bytes = f.read()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()

    env = dict(os.environ)
    env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{port}"
    label = args.label or os.path.basename(args.binary)
    inits, hwms, failures = [], [], []
    log = open(args.log, "ab")
    for i in range(args.runs):
        run = Run(event_bytes, args.init_only)
        STATE["run"] = run
        spawn_ns = time.monotonic_ns()
        proc = subprocess.Popen([args.binary], env=env, stdout=log, stderr=log)
        finished = False
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            if run.done.wait(timeout=0.05):
                finished = True
                break
            if proc.poll() is not None:
                break
        status = read_proc_status(proc.pid) if proc.poll() is None else None
        exit_code = proc.poll()
        if exit_code is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        run.killed.set()
        record = {"label": label, "run": i + 1, "port": port}
        if run.first_next_ns is not None:
            record["init_ms"] = round((run.first_next_ns - spawn_ns) / 1e6, 3)
            inits.append(record["init_ms"])
        if status:
            record["vmhwm_kb"] = status.get("VmHWM")
            record["vmrss_kb"] = status.get("VmRSS")
            if status.get("VmHWM") is not None:
                hwms.append(status["VmHWM"])
        record["outcome"] = run.response_kind
        if run.response_body is not None:
            record["response"] = run.response_body[:2000]
        problem = None
        if not finished:
            problem = f"binary exited early with status {exit_code}" if exit_code is not None else "timed out"
        elif run.response_kind == "init-error":
            problem = f"init error: {run.response_body}"
        else:
            problem = check(args.expect, run)
        if problem:
            record["problem"] = problem
            failures.append(problem)
        print(json.dumps(record), flush=True)
    server.shutdown()

    summary = {"label": label, "runs": args.runs, "failed_runs": len(failures)}
    if inits:
        summary["init_ms_min"] = min(inits)
        summary["init_ms_median"] = round(statistics.median(inits), 3)
        summary["init_ms_max"] = max(inits)
    if hwms:
        summary["vmhwm_kb_max"] = max(hwms)
        summary["vmhwm_mib_max"] = round(max(hwms) / 1024, 1)
    print(json.dumps({"summary": summary}), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
