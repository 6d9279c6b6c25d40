"""fcemu's runtime for FC's Python built-in runtimes (python3, python3.6 ... python3.12).

It implements FC's Python programming model on the HTTP contract fcemu speaks to every instance:
  POST /invoke       an event: handler(event: bytes, context) -> the response body
  any other path     an HTTP trigger request (x-fc-control-path: /http-invoke): FC 3.0 calls
                     handler(event, context) with the HTTP trigger event and turns a returned
                     {statusCode, headers, body, isBase64Encoded} into the response; FC 2.0 calls a WSGI
                     handler(environ, start_response)
  POST /initialize   the Initializer: initialize(context)
  GET /pre-stop      PreStop: pre_stop(context), its return value ignored
  GET /pre-freeze    FC 2.0's PreFreeze: pre_freeze(context)

One request at a time, as FC's Python runtime serves them. The code is in /code (FC_FUNC_CODE_PATH); the
handler names are `module.function`. Standard library only: the runtime runs on any image with python3.
"""

import base64
import datetime
import importlib
import io
import json
import logging
import os
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote_plus

CODE_DIR = os.environ.get("FC_FUNC_CODE_PATH", "/code/")

# Content types whose bodies an HTTP trigger event carries as text; the others are base64.
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript",
              "application/x-www-form-urlencoded", "+json", "+xml")


class HandlerError(Exception):
    """A handler that cannot be found or loaded: the user's mistake, said plainly."""


class ProcessExited(Exception):
    """The handler ended the process; answered as its error before the process ends."""


class ReportedError(Exception):
    """An error the function reported itself, as FC's body (`errorMessage`, `errorType`, `stackTrace`): a
    runtime whose handlers run in another process (Go's) passes it on as it came."""

    def __init__(self, body):
        super().__init__(body.get("errorMessage", ""))
        self.body = body


# Libraries FC's Python runtime ships that code imports without installing them (fcemu says which).
SHIPPED_BY_FC = set(filter(None, os.environ.get("FCEMU_SHIPPED_LIBRARIES", "").split(",")))
# Where fcemu puts those of them a function imports, when it could fetch them: last on the path, as they
# are FC's and the function's own come first.
FC_LIBRARIES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fc-libraries")


def load_handler(name):
    """`index.handler` -> the function `handler` of the module `index` in the code folder."""
    module_name, _, function_name = name.rpartition(".")
    if not module_name or not function_name:
        raise HandlerError(f'handler "{name}" is not MODULE.FUNCTION, e.g. index.handler')
    if CODE_DIR not in sys.path:
        sys.path.insert(0, CODE_DIR)
    # Where `s build` (fc3 build) installs a function's requirements, as FC's runtime has it on the path.
    dependencies = os.path.join(CODE_DIR, "python")
    if dependencies not in sys.path:
        sys.path.insert(1, dependencies)
    if os.path.isdir(FC_LIBRARIES) and FC_LIBRARIES not in sys.path:
        sys.path.append(FC_LIBRARIES)
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ModuleNotFoundError as e:
        if e.name == module_name:
            raise HandlerError(f"module '{module_name}' not found in {CODE_DIR} "
                               f"(handler \"{name}\" needs {module_name}.py)") from e
        missing = (e.name or "").split(".")[0]
        shipped = (f" FC's Python runtime ships {missing}; fcemu fetches it only where a registry answers."
                   if missing in SHIPPED_BY_FC else "")
        raise HandlerError(
            f"handler \"{name}\": {module_name}.py imports {missing}, which is not installed in "
            f"{dependencies} nor on PYTHONPATH.{shipped} Add it to requirements.txt and run `fcemu build` "
            f"(fc3 build installs it into code/python), or give it in a layer under python/") from e
    function = getattr(module, function_name, None)
    if not callable(function):
        raise HandlerError(f"module '{module_name}' has no function '{function_name}' "
                           f"(handler \"{name}\")")
    return function


# ---- context and logging --------------------------------------------------------------------------------

class Credentials:
    def __init__(self, access_key_id, access_key_secret, security_token):
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.security_token = security_token


class FunctionMeta:
    def __init__(self, name, handler, memory, timeout, initializer, initialization_timeout):
        self.name = name
        self.handler = handler
        self.memory = memory
        self.timeout = timeout
        self.initializer = initializer
        self.initialization_timeout = initialization_timeout


class ServiceMeta:
    def __init__(self, name, log_project, log_store, qualifier, version_id):
        self.name = name
        self.log_project = log_project
        self.log_store = log_store
        self.qualifier = qualifier
        self.version_id = version_id


class Tracing:
    def __init__(self):
        self.span_context = None
        self.jaeger_endpoint = None
        self.span_baggages = {}
        self.parent_span_id = None


class FCContext:
    """The `context` FC passes to every handler and hook, with its documented fields."""

    def __init__(self, headers):
        def h(name, default=""):
            return headers.get(name, default)

        def number(name):
            try:
                return int(h(name, "0"))
            except ValueError:
                return 0

        self.request_id = h("x-fc-request-id")
        self.credentials = Credentials(h("x-fc-access-key-id"), h("x-fc-access-key-secret"),
                                       h("x-fc-security-token"))
        self.function = FunctionMeta(
            h("x-fc-function-name", os.environ.get("FC_FUNCTION_NAME", "")),
            h("x-fc-function-handler", os.environ.get("FC_FUNCTION_HANDLER", "")),
            number("x-fc-function-memory"), number("x-fc-function-timeout"),
            h("x-fc-function-initializer"), number("x-fc-initialization-timeout"))
        self.service = ServiceMeta(os.environ.get("FCEMU_SERVICE_NAME", ""), "", "",
                                   h("x-fc-qualifier", "LATEST"), h("x-fc-version-id", "LATEST"))
        self.region = h("x-fc-region", os.environ.get("FC_REGION", ""))
        self.account_id = h("x-fc-account-id", os.environ.get("FC_ACCOUNT_ID", ""))
        self.instance_id = os.environ.get("FC_INSTANCE_ID", "")
        self.tracing = Tracing()
        self.logger = logging.LoggerAdapter(logging.getLogger("fc"), {})


class Current:
    """The request id the lines printed now belong to."""
    request_id = ""


class RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.request_id = Current.request_id
        return True


class FCFormatter(logging.Formatter):
    """FC's line: `2024-05-01T08:00:00.123Z 1-6631f0a0-... [INFO] message`."""

    def formatTime(self, record, datefmt=None):
        t = datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(record.msecs):03d}Z"


def setup_logging():
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(FCFormatter("%(asctime)s %(request_id)s [%(levelname)s] %(message)s"))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)


def say(line):
    print(line, flush=True)


# ---- results and errors -----------------------------------------------------------------------------------

def error_body(e):
    """FC's body for an error in a handler: message, type and stack trace."""
    if isinstance(e, ReportedError):
        return e.body
    frames = traceback.extract_tb(e.__traceback__)
    # The runtime's and the import machinery's frames say nothing about the user's code.
    frames = [f for f in frames if f.filename != __file__ and "importlib" not in f.filename]
    stack = [line.rstrip("\n") for line in traceback.format_list(frames)]
    if isinstance(e, SyntaxError):
        # Where the code does not parse: the file, the line and a caret under the spot.
        stack += [line.rstrip("\n") for line in traceback.format_exception_only(type(e), e)[:-1]]
    return {
        "errorMessage": str(e),
        "errorType": type(e).__name__,
        "stackTrace": stack,
    }


def stack_line(frame):
    """A stack trace's frame as a line: Python's are lines already; Go's SDK sends {label, path, line}."""
    if isinstance(frame, dict):
        return f"{frame.get('label', '')} ({frame.get('path', '')}:{frame.get('line', '')})"
    return str(frame)


def to_bytes(value):
    """What a handler returned, as a response body."""
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (dict, list, int, float, bool)):
        return json.dumps(value).encode()
    return str(value).encode()


def http_trigger_event(method, target, headers, body, context, client_ip):
    """FC 3.0's HTTP trigger event for one request; `headers` as the client wrote their names."""
    path, _, query = target.partition("?")
    lower = {k.lower(): v for k, v in headers.items()}
    params = {}
    for pair in filter(None, query.split("&")):
        key, _, value = pair.partition("=")
        key, value = unquote_plus(key), unquote_plus(value)
        params[key] = params[key] + "," + value if key in params else value
    content_type = lower.get("content-type", "")
    # Text when the client says so, or says nothing and sent UTF-8; base64 otherwise.
    text = not body or not content_type or any(t in content_type for t in TEXT_TYPES)
    if text:
        try:
            body_field, encoded = body.decode(), False
        except UnicodeDecodeError:
            text = False
    if not text:
        body_field, encoded = base64.b64encode(body).decode(), True
    now = datetime.datetime.now(datetime.timezone.utc)
    return {
        "version": "v1",
        "rawPath": path,
        "headers": {k: v for k, v in headers.items() if not k.lower().startswith("x-fc-")},
        "queryParameters": params,
        "body": body_field,
        "isBase64Encoded": encoded,
        "requestContext": {
            "accountId": context.account_id,
            "domainName": lower.get("host", ""),
            "domainPrefix": lower.get("host", "").split(".")[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": client_ip,
                "userAgent": lower.get("user-agent", ""),
            },
            "requestId": context.request_id,
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": str(int(now.timestamp() * 1000)),
        },
    }


def http_trigger_response(result):
    """A handler's return value -> (status, headers, body), as FC 3.0's HTTP trigger reads it."""
    if isinstance(result, (bytes, bytearray)):
        result = bytes(result)
    if isinstance(result, dict) and "statusCode" in result:
        body = result.get("body", "")
        if result.get("isBase64Encoded"):
            body = base64.b64decode(body)
        elif not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        return int(result["statusCode"]), headers, to_bytes(body)
    headers = {"content-type": "application/json"} if isinstance(result, (dict, list)) else {}
    return 200, headers, to_bytes(result)


# ---- the server -------------------------------------------------------------------------------------------

HOOKS = {
    "/initialize": ("Initialize", "FCEMU_INITIALIZER"),
    "/pre-stop": ("PreStop", "FCEMU_PRE_STOP"),
    "/pre-freeze": ("PreFreeze", "FCEMU_PRE_FREEZE"),
}


ONE_AT_A_TIME = threading.Lock()


class QuietHandler(BaseHTTPRequestHandler):
    """An HTTP/1.1 server's handler that prints nothing of its own."""
    protocol_version = "HTTP/1.1"
    # The head and the body go out in two writes: without this, the body waits for the client's delayed
    # acknowledgement of the head (40 ms on Linux).
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        # The access log is fcemu's to keep; the function's output stays the function's own.
        pass


class Runtime(QuietHandler):
    server_version = "fcemu-python"

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    def read_body(self):
        """The request body, sent with a length or in chunks (a client's chunked body reaches fcemu's
        runtime as it was sent)."""
        if "chunked" not in self.headers.get("transfer-encoding", "").lower():
            length = int(self.headers.get("content-length") or 0)
            return self.rfile.read(length) if length else b""
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                # Trailers, up to the blank line that ends the message.
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def dispatch(self):
        body = self.read_body()
        if self.command == "OPTIONS" and self.path == "*":
            # fcemu's readiness probe through a published port: the server is there, and no handler runs.
            return self.answer(200, {}, b"")
        headers = {k.lower(): v for k, v in self.headers.items()}
        context = FCContext(headers)
        control = headers.get("x-fc-control-path", "")
        path = self.path.partition("?")[0]
        # One request at a time, as FC's Python runtime serves them: each connection has a thread (fcemu
        # keeps idle connections open), and handlers take turns.
        with ONE_AT_A_TIME:
            self.serve(body, headers, context, control, path)
            if self.exit_code is not None:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(self.exit_code)

    def serve(self, body, headers, context, control, path):
        Current.request_id = context.request_id
        try:
            if control == "/invoke" or (not control and path == "/invoke"):
                self.invoke_event(body, context)
            elif control in HOOKS or (not control and path in HOOKS):
                self.hook(HOOKS[control or path], context)
            else:
                self.invoke_http(body, headers, context)
        finally:
            Current.request_id = ""

    def answer(self, status, headers, body):
        """`headers` a dict, or (name, value) pairs where a name repeats (Set-Cookie)."""
        self.send_response(status)
        for k, v in headers.items() if isinstance(headers, dict) else headers:
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        if self.process_ends():
            # fcemu then takes the instance out of service instead of freezing it half-ended.
            self.send_header("connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def answer_error(self, status, error_type, body):
        self.answer(status, {"content-type": "application/json", "x-fc-error-type": error_type},
                    json.dumps(body).encode())

    def run(self, word, context, call):
        """Runs a handler between FC's Start and End lines; (ok, result or error body)."""
        say(f"FC {word} Start RequestId: {context.request_id}")
        try:
            result = call()
            ok = True
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt):
                raise
            if isinstance(e, SystemExit):
                # The handler ended the process (sys.exit()): its request is answered, then the process
                # ends as it asked, rather than only this connection's thread.
                self.exit_code = e.code if isinstance(e.code, int) else int(e.code is not None)
                if isinstance(e.code, str):
                    print(e.code, file=sys.stderr)
                e = ProcessExited(f"the function ended the Python process (sys.exit({e.code!r}))")
            result, ok = error_body(e), False
            stack = "".join("\n" + stack_line(frame) for frame in result["stackTrace"])
            logging.getLogger("fc").error("%s: %s%s", result["errorType"], result["errorMessage"], stack)
        say(f"FC {word} End RequestId: {context.request_id}")
        return ok, result

    # Set when the handler ended the process: it ends with this code once its request is answered.
    exit_code = None

    def process_ends(self):
        """Whether this runtime's process ends after the answer being sent (the handler called sys.exit()): a
        runtime whose process can end under a request otherwise (Go's, when the executable exits) says so."""
        return self.exit_code is not None

    # What runs the user's code; a runtime whose code runs elsewhere (Go's) puts its own here.
    def call_handler(self, event, context):
        """The handler called with an event (bytes); what it returned."""
        return load_handler(os.environ.get("FC_FUNCTION_HANDLER", "index.handler"))(event, context)

    def call_http_handler(self, event, context):
        """The handler called with an HTTP trigger event (JSON bytes); what it returned."""
        return self.call_handler(event, context)

    def call_http_function(self, body, headers, context):
        """FC 2.0's HTTP function called with this request; (status, headers, body)."""
        handler = os.environ.get("FC_FUNCTION_HANDLER", "index.handler")
        return wsgi_call(load_handler(handler), self, body, headers, context)

    def call_hook(self, word, name, context):
        """The hook `name` (FC's `word` for it: Initialize, PreStop, PreFreeze) called."""
        return load_handler(name)(context)

    def invoke_event(self, body, context):
        ok, result = self.run("Invoke", context, lambda: self.call_handler(body, context))
        if ok:
            self.answer(200, {}, to_bytes(result))
        else:
            self.answer_error(200, "UnhandledInvocationError", result)

    def invoke_http(self, body, headers, context):
        client_ip = self.client_address[0]
        if os.environ.get("FCEMU_EDITION") == "2.0":
            call = lambda: self.call_http_function(body, headers, context)
        else:
            event = http_trigger_event(self.command, self.path, dict(self.headers.items()), body,
                                       context, client_ip)
            call = lambda: http_trigger_response(
                self.call_http_handler(json.dumps(event).encode(), context))
        ok, result = self.run("Invoke", context, call)
        if ok:
            self.answer(*result)
        else:
            self.answer_error(502, "UnhandledInvocationError", result)

    def hook(self, hook, context):
        word, variable = hook
        name = os.environ.get(variable, "")
        if not name:
            self.answer(404, {}, f"no {word} handler is set".encode())
            return
        ok, result = self.run(word, context, lambda: self.call_hook(word, name, context))
        if ok:
            self.answer(200, {}, b"")
        else:
            self.answer_error(500, f"{word}Error", result)


def wsgi_call(app, request, body, headers, context):
    """FC 2.0's HTTP function: a WSGI application."""
    path, _, query = request.path.partition("?")
    environ = {
        "REQUEST_METHOD": request.command,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_plus(path.replace("+", "%2B")),
        "QUERY_STRING": query,
        "CONTENT_TYPE": headers.get("content-type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": headers.get("host", "localhost").split(":")[0],
        "SERVER_PORT": os.environ.get("FC_CUSTOM_LISTEN_PORT", "9000"),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": request.client_address[0],
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "fc.context": context,
        "fc.request_uri": request.path,
    }
    for k, v in headers.items():
        if k.startswith("x-fc-") or k in ("content-type", "content-length"):
            continue
        environ["HTTP_" + k.upper().replace("-", "_")] = v
    started = {}

    def start_response(status, response_headers, exc_info=None):
        started["status"] = int(status.split(" ", 1)[0])
        # As pairs: a name may repeat (Set-Cookie), and each value is sent.
        started["headers"] = list(response_headers)
        return lambda data: chunks.append(data)

    chunks = []
    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return started.get("status", 200), started.get("headers", []), b"".join(to_bytes(c) for c in chunks)


def main():
    setup_logging()
    port = int(os.environ.get("FC_CUSTOM_LISTEN_PORT", "9000"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Runtime)
    server.serve_forever()


if __name__ == "__main__":
    main()
