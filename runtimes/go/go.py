"""fcemu's runtime for FC's Go runtime (go1).

A Go function is a Linux executable built with FC's Go SDK (aliyun/fc-runtime-go-sdk: `fc.Start(handler)`,
`fc.RegisterInitializerFunction`, `fc.RegisterPreStopFunction`), named by `handler` in the code folder. It
runs unchanged: this runtime starts it with `FC_RUNTIME_API` set to FC's runtime API, served here on the
instance's loopback, and passes it each request and hook as FC does:

  GET  /2020-11-11/runtime/invocation/next              the next invocation: its payload in the body, its
                                                        context in x-fc-* headers, x-fc-function-type
                                                        0 invoke, 1 initializer, 2 preStop, 3 preFreeze
  POST /2020-11-11/runtime/invocation/{id}/response     its result
  POST /2020-11-11/runtime/invocation/{id}/error        its error: {errorMessage, errorType, stackTrace}

An FC 2.0 HTTP function (`fc.StartHttp`, in a project of s.yaml edition 1.0.0) gets the request as FC's Go
runtime passes it: the body as the payload and the rest in `x-fc-http-params` (base64 of JSON: path, method,
requestURI, clientIP, host, queriesMap, headersMap); its response comes back as the body, with the status and
headers in the response's own `x-fc-http-params` (base64 of JSON: status, headersMap).

Towards fcemu it keeps the contract every built-in runtime keeps (bootstrap.py: the HTTP trigger event, FC's
Start and End lines, errors, one request at a time). The instance is ready once the executable asks for its
first invocation; when the executable exits, so does the instance, as on FC.
"""

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs

import bootstrap as fc

API = "/2020-11-11/runtime/invocation/"
FUNCTION_TYPES = {"Invoke": 0, "Initialize": 1, "PreStop": 2, "PreFreeze": 3}
# The x-fc-* headers fcemu sends that the SDK reads from an invocation, passed on as they came.
CONTEXT_HEADERS = ("x-fc-access-key-id", "x-fc-access-key-secret", "x-fc-security-token",
                   "x-fc-function-name", "x-fc-function-handler", "x-fc-function-memory",
                   "x-fc-region", "x-fc-account-id", "x-fc-qualifier", "x-fc-version-id",
                   "x-fc-retry-count", "x-fc-client-ip")


class Invocations:
    """The runtime API's state: the invocation handed to the executable, and its answer. One at a time, as
    FC's Go runtime serves them."""

    def __init__(self):
        self.changed = threading.Condition()
        self.pending = None  # (request id, headers, payload) not yet taken by `next`
        self.answers = {}  # request id -> (ok, body, x-fc-http-params)
        self.asked = False  # the executable asked for its first invocation: it is up
        self.exit_code = None  # the executable ended

    def call(self, word, payload, context, headers, http_params=""):
        """Hands one invocation to the executable and waits for its answer: the result's bytes and the
        answer's x-fc-http-params (an HTTP function's), or its error raised as FC's body."""
        request_id = context.request_id
        timeout = headers.get("x-fc-initialization-timeout" if word == "Initialize" else
                              "x-fc-function-timeout") or "0"
        timeout = int(timeout) if timeout.isdigit() and int(timeout) > 0 else context.function.timeout
        invocation = {name: headers[name] for name in CONTEXT_HEADERS if name in headers}
        invocation.update({
            "x-fc-request-id": request_id,
            "x-fc-function-type": str(FUNCTION_TYPES[word]),
            "x-fc-function-timeout": str(timeout),
            "x-fc-function-deadline": str(int(time.time() * 1000) + timeout * 1000),
            "x-fc-service-name": context.service.name,
            "x-fc-service-logproject": "",
            "x-fc-service-logstore": "",
        })
        if http_params:
            invocation["x-fc-http-params"] = http_params
        with self.changed:
            self.pending = (request_id, invocation, payload)
            self.changed.notify_all()
            while request_id not in self.answers and self.exit_code is None:
                self.changed.wait()
            answer = self.answers.pop(request_id, None)
        if answer is None:
            raise fc.ReportedError({
                "errorMessage": f"the function's process exited (status {self.exit_code}) before it answered",
                "errorType": "Runtime.ExitError",
                "stackTrace": [],
            })
        ok, body, answered_params = answer
        if ok:
            return body, answered_params
        try:
            error = json.loads(body)
        except ValueError:
            error = None
        if not isinstance(error, dict):
            error = {"errorMessage": body.decode(errors="replace"), "errorType": "Error"}
        error.setdefault("stackTrace", [])
        # The SDK's own field for a panic, not FC's answer.
        error.pop("shouldExit", None)
        raise fc.ReportedError(error)

    def next(self):
        """Waits for the next invocation (the executable's long poll)."""
        with self.changed:
            self.asked = True
            self.changed.notify_all()
            while self.pending is None:
                self.changed.wait()
            pending, self.pending = self.pending, None
            return pending

    def answer(self, request_id, ok, body, http_params):
        with self.changed:
            self.answers[request_id] = (ok, body, http_params)
            self.changed.notify_all()

    def ended(self, code):
        with self.changed:
            self.exit_code = code
            self.changed.notify_all()

    def wait_up(self):
        """Until the executable asks for an invocation (True) or ends first (False)."""
        with self.changed:
            while not self.asked and self.exit_code is None:
                self.changed.wait()
            return self.asked


INVOCATIONS = Invocations()


class RuntimeApi(fc.QuietHandler):
    """FC's runtime API, for the function's executable only (on loopback)."""
    server_version = "fcemu-go-runtime-api"

    def do_GET(self):
        if self.path != API + "next":
            return self.reply(404, f"no such runtime API path: GET {self.path}".encode())
        request_id, headers, payload = INVOCATIONS.next()
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        request_id, _, outcome = self.path[len(API):].rpartition("/")
        if not self.path.startswith(API) or outcome not in ("response", "error") or not request_id:
            return self.reply(404, f"no such runtime API path: POST {self.path}".encode())
        INVOCATIONS.answer(request_id, outcome == "response", body, self.headers.get("x-fc-http-params", ""))
        self.reply(200, b"")

    def reply(self, status, body):
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class GoRuntime(fc.Runtime):
    """fcemu's instance contract, each handler and hook run by the executable."""
    server_version = "fcemu-go"

    def call_handler(self, event, context):
        return INVOCATIONS.call("Invoke", event, context, self.fc_headers())[0]

    def call_http_function(self, body, headers, context):
        path, _, query = self.path.partition("?")
        request = {
            "path": path, "method": self.command, "requestURI": self.path,
            "clientIP": headers.get("x-fc-client-ip") or self.client_address[0],
            "host": headers.get("host", ""),
            "queriesMap": parse_qs(query, keep_blank_values=True),
            "headersMap": go_header_map(self.headers.items()),
        }
        encoded = base64.b64encode(json.dumps(request).encode()).decode()
        body, answered = INVOCATIONS.call("Invoke", body, context, self.fc_headers(), encoded)
        response = json.loads(base64.b64decode(answered)) if answered else {}
        headers = [(name, value) for name, values in (response.get("headersMap") or {}).items()
                   for value in values]
        return int(response.get("status") or 200), headers, body

    def process_ends(self):
        # The executable ended: go.py ends once this answer is out.
        return INVOCATIONS.exit_code is not None

    def call_http_handler(self, event, context):
        # The SDK answers with the HTTP trigger response as JSON.
        returned = self.call_handler(event, context)
        try:
            return json.loads(returned)
        except ValueError:
            return returned

    def call_hook(self, word, name, context):
        INVOCATIONS.call(word, b"", context, self.fc_headers())

    def fc_headers(self):
        return {k.lower(): v for k, v in self.headers.items()}


def go_header_map(headers):
    """The client's headers as Go's http.Header holds them: canonical names (the SDK's Header.Get looks them
    up so), each with its values; fcemu's own x-fc-* headers left out."""
    canonical = {}
    for name, value in headers:
        if name.lower().startswith("x-fc-"):
            continue
        key = "-".join(part.capitalize() for part in name.split("-"))
        canonical.setdefault(key, []).append(value)
    return canonical


def start_function():
    """The user's executable, started with FC's runtime API; exits this runtime (and the instance) when it
    ends."""
    handler = os.environ.get("FC_FUNCTION_HANDLER", "main")
    executable = os.path.join(fc.CODE_DIR, handler)
    api = ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    env = dict(os.environ, FC_RUNTIME_API=f"127.0.0.1:{api.server_address[1]}")
    build = "build it for Linux into the code folder: GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build -o " + handler
    # Under `up --debug`: the executable started by its debugger (Delve's `dlv exec ... --`).
    debugger = os.environ.get("FCEMU_DEBUGGER", "").split()
    try:
        process = subprocess.Popen([*debugger, executable], env=env, cwd=fc.CODE_DIR)
    except FileNotFoundError:
        sys.exit(f"fcemu: the handler \"{handler}\" names {executable}, which is not there: {build}")
    except PermissionError:
        sys.exit(f"fcemu: {executable} (the handler \"{handler}\") is not executable: chmod +x it, or {build}")
    except OSError as e:
        sys.exit(f"fcemu: {executable} (the handler \"{handler}\") does not run here ({e.strerror}): {build}")
    # Stopping the instance stops the function, which may still finish what it does.
    signal.signal(signal.SIGTERM, lambda *_: process.terminate())

    def watch():
        code = process.wait()
        INVOCATIONS.ended(code)
        # The request it left unanswered is answered before the instance goes.
        with fc.ONE_AT_A_TIME:
            sys.stdout.flush()
            os._exit(code if code >= 0 else 128 - code)

    threading.Thread(target=watch, daemon=True).start()
    return INVOCATIONS.wait_up()


def main():
    fc.setup_logging()
    if not start_function():
        # It ended before it asked for work: the watcher exits with its status.
        threading.Event().wait()
    port = int(os.environ.get("FC_CUSTOM_LISTEN_PORT", "9000"))
    ThreadingHTTPServer(("0.0.0.0", port), GoRuntime).serve_forever()


if __name__ == "__main__":
    main()
