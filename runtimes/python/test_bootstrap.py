"""Tests of fcemu's Python runtime: the real bootstrap.py as a process, driven over HTTP as fcemu drives it.

Run: python3 -m unittest discover -s runtimes/python
"""

import base64
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BOOTSTRAP = os.path.join(HERE, "bootstrap.py")
CODE = os.path.join(HERE, "testdata") + "/"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Runtime:
    """bootstrap.py in a process of its own, with the environment fcemu gives a container."""

    def __init__(self, handler, script=BOOTSTRAP, code=CODE, **env):
        self.port = free_port()
        environment = dict(os.environ, FC_FUNC_CODE_PATH=code, FC_CUSTOM_LISTEN_PORT=str(self.port),
                           FC_FUNCTION_HANDLER=handler, FC_FUNCTION_NAME="fn", FC_REGION="cn-hangzhou",
                           FC_ACCOUNT_ID="1234", **env)
        self.process = subprocess.Popen([sys.executable, "-u", script], env=environment,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise AssertionError("the runtime did not start: " + self.stop())
                time.sleep(0.02)
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def request(self, method, path, body=b"", control=None, request_id="1-6650f0a0-0a1b2c3d-4e5f60718293",
                headers=None):
        h = {
            "x-fc-request-id": request_id,
            "x-fc-function-name": "fn",
            "x-fc-function-memory": "512",
            "x-fc-function-timeout": "7",
            "x-fc-function-handler": "index.handler",
            "x-fc-function-initializer": "index.initialize",
            "x-fc-initialization-timeout": "4",
            "x-fc-region": "cn-hangzhou",
            "x-fc-account-id": "1234",
            "x-fc-qualifier": "LATEST",
            "x-fc-version-id": "LATEST",
            "x-fc-control-path": control or path,
        }
        h.update(headers or {})
        self.connection.request(method, path, body=body, headers=h,
                                encode_chunked="Transfer-Encoding" in h)
        r = self.connection.getresponse()
        headers = {}
        for k, v in r.getheaders():
            # A repeated header's values, joined as one line would carry them.
            headers[k.lower()] = headers[k.lower()] + ", " + v if k.lower() in headers else v
        return r.status, headers, r.read()

    def invoke(self, event=b""):
        return self.request("POST", "/invoke", event)

    def stop(self):
        """Ends the process; its output."""
        if hasattr(self, "connection"):
            self.connection.close()
        self.process.terminate()
        out, _ = self.process.communicate(timeout=10)
        return out


class RuntimeTest(unittest.TestCase):
    def runtime(self, handler, **env):
        r = Runtime(handler, **env)
        self.addCleanup(lambda: r.process.poll() is None and r.stop())
        return r


class EventFunctions(RuntimeTest):
    def test_the_event_is_the_body_and_the_return_value_the_response(self):
        r = self.runtime("index.echo")
        status, headers, body = r.invoke(b'{"prompt": "cat"}')
        self.assertEqual((status, body), (200, b'{"prompt": "cat"}'))
        self.assertNotIn("x-fc-error-type", headers)

    def test_a_chunked_body_is_read_whole(self):
        r = self.runtime("index.echo")
        status, _, body = r.request("POST", "/invoke", iter([b"first ", b"and second"]),
                                    headers={"Transfer-Encoding": "chunked"})
        self.assertEqual((status, body), (200, b"first and second"))
        self.assertEqual(r.invoke(b"after")[2], b"after", "the connection is still in step")

    def test_a_dict_is_answered_as_json(self):
        status, _, body = self.runtime("index.describe_context").invoke()
        self.assertEqual(status, 200)
        context = json.loads(body)
        self.assertEqual(context["requestId"], "1-6650f0a0-0a1b2c3d-4e5f60718293")
        self.assertEqual(context["function"], {"name": "fn", "handler": "index.handler", "memory": 512,
                                               "timeout": 7, "initializer": "index.initialize",
                                               "initialization_timeout": 4})
        self.assertEqual(context["service"]["qualifier"], "LATEST")
        self.assertEqual((context["region"], context["accountId"]), ("cn-hangzhou", "1234"))
        self.assertEqual(set(context["credentials"]), {"access_key_id", "access_key_secret", "security_token"})

    def test_an_exception_is_answered_as_fc_does_and_the_runtime_lives_on(self):
        r = self.runtime("index.fails")
        status, headers, body = r.invoke()
        self.assertEqual(status, 200)
        self.assertEqual(headers["x-fc-error-type"], "UnhandledInvocationError")
        error = json.loads(body)
        self.assertEqual(error["errorType"], "ZeroDivisionError")
        self.assertEqual(error["errorMessage"], "division by zero")
        self.assertTrue(any("index.py" in f and "in divide" in f for f in error["stackTrace"]), error)
        self.assertFalse(any("bootstrap.py" in f for f in error["stackTrace"]), error)
        status, headers, _ = r.invoke()
        self.assertEqual(status, 200, "the same process answers again")
        self.assertIn("FC Invoke End RequestId", r.stop())

    def test_a_handler_that_calls_sys_exit_is_answered_and_the_process_ends_with_its_code(self):
        r = self.runtime("index.exits")
        status, headers, body = r.invoke()
        self.assertEqual((status, headers["x-fc-error-type"]), (200, "UnhandledInvocationError"))
        self.assertEqual(json.loads(body)["errorType"], "ProcessExited")
        # What tells fcemu not to freeze the instance while its process ends.
        self.assertEqual(headers.get("connection"), "close")
        self.assertEqual(r.process.wait(timeout=10), 3)

    def test_a_missing_handler_says_which_module_or_function(self):
        for handler, expected in [("nomodule.handler", "module 'nomodule' not found"),
                                  ("index.nofunction", "module 'index' has no function 'nofunction'")]:
            status, headers, body = self.runtime(handler).invoke()
            self.assertEqual(headers["x-fc-error-type"], "UnhandledInvocationError")
            self.assertIn(expected, json.loads(body)["errorMessage"])

    def test_a_handler_module_whose_own_import_fails_names_the_missing_module(self):
        status, headers, body = self.runtime("needsoss.handler", FCEMU_SHIPPED_LIBRARIES="oss2,tablestore").invoke()
        self.assertEqual(headers["x-fc-error-type"], "UnhandledInvocationError")
        message = json.loads(body)["errorMessage"]
        self.assertIn("needsoss.py imports oss2, which is not installed", message)
        self.assertIn("FC's Python runtime ships oss2", message)
        self.assertNotIn("module 'needsoss' not found", message)

    def test_code_that_does_not_parse_says_where(self):
        status, headers, body = self.runtime("broken.handler").invoke()
        error = json.loads(body)
        self.assertEqual(error["errorType"], "SyntaxError")
        trace = "\n".join(error["stackTrace"])
        self.assertIn("broken.py", trace)
        self.assertIn("line 2", trace)
        self.assertNotIn("importlib", trace)

    def test_log_lines_carry_the_request_id_in_fcs_format(self):
        r = self.runtime("index.logs")
        r.invoke()
        out = r.stop().splitlines()
        rid = "1-6650f0a0-0a1b2c3d-4e5f60718293"
        self.assertEqual(out[0], f"FC Invoke Start RequestId: {rid}")
        self.assertEqual(out[1], "plain print")
        stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
        self.assertRegex(out[2], rf"^{stamp} {rid} \[INFO\] root logger line$")
        self.assertRegex(out[3], rf"^{stamp} {rid} \[WARNING\] context logger line$")
        self.assertEqual(out[4], f"FC Invoke End RequestId: {rid}")


class Hooks(RuntimeTest):
    def test_initializer_pre_freeze_and_pre_stop_get_the_context(self):
        r = self.runtime("index.calls_so_far", FCEMU_INITIALIZER="index.initialize",
                         FCEMU_PRE_STOP="index.pre_stop", FCEMU_PRE_FREEZE="index.pre_freeze")
        self.assertEqual(r.request("POST", "/initialize", request_id="r-init")[0], 200)
        self.assertEqual(r.request("GET", "/pre-freeze")[0], 200)
        self.assertEqual(json.loads(r.invoke()[2])["calls"], ["initialize", "pre_freeze"])
        status, _, body = r.request("GET", "/pre-stop", request_id="r-stop")
        self.assertEqual((status, body), (200, b""))
        out = r.stop()
        for line in ["FC Initialize Start RequestId: r-init", "initializing fn",
                     "FC Initialize End RequestId: r-init", "FC PreStop Start RequestId: r-stop",
                     "pre-stop called", "FC PreStop End RequestId: r-stop"]:
            self.assertIn(line + "\n", out)

    def test_a_hook_that_raises_is_a_failure_with_its_error(self):
        r = self.runtime("index.echo", FCEMU_INITIALIZER="index.failing_hook")
        status, headers, body = r.request("POST", "/initialize")
        self.assertEqual(status, 500)
        self.assertEqual(headers["x-fc-error-type"], "InitializeError")
        self.assertEqual(json.loads(body)["errorMessage"], "the model is missing")

    def test_the_readiness_probe_is_answered_without_running_the_handler(self):
        r = self.runtime("index.logs")
        status, _, body = r.request("OPTIONS", "*")
        self.assertEqual((status, body), (200, b""))
        out = r.stop()
        self.assertNotIn("FC Invoke Start", out)
        self.assertNotIn("plain print", out)

    def test_a_hook_without_a_handler_is_404(self):
        self.assertEqual(self.runtime("index.echo").request("GET", "/pre-stop")[0], 404)


class HttpTriggers(RuntimeTest):
    def test_fc3_gets_the_http_trigger_event(self):
        r = self.runtime("index.http_event")
        status, headers, body = r.request("POST", "/api/items?a=1&b=x%20y&a=2", b'{"k": 1}',
                                          control="/http-invoke",
                                          headers={"Content-Type": "application/json", "User-Agent": "t"})
        self.assertEqual(status, 200)
        event = json.loads(body)
        self.assertEqual(event["version"], "v1")
        self.assertEqual(event["rawPath"], "/api/items")
        self.assertEqual(event["queryParameters"], {"a": "1,2", "b": "x y"})
        self.assertEqual(event["body"], '{"k": 1}')
        self.assertFalse(event["isBase64Encoded"])
        self.assertEqual(event["headers"]["Content-Type"], "application/json")
        self.assertFalse(any(k.lower().startswith("x-fc-") for k in event["headers"]))
        context = event["requestContext"]
        self.assertEqual(context["http"]["method"], "POST")
        self.assertEqual(context["http"]["userAgent"], "t")
        self.assertEqual(context["requestId"], "1-6650f0a0-0a1b2c3d-4e5f60718293")

    def test_a_binary_body_is_base64_in_the_event(self):
        r = self.runtime("index.http_event")
        _, _, body = r.request("PUT", "/bin", b"\xff\x00\x01", control="/http-invoke",
                               headers={"Content-Type": "application/octet-stream"})
        event = json.loads(body)
        self.assertTrue(event["isBase64Encoded"])
        self.assertEqual(base64.b64decode(event["body"]), b"\xff\x00\x01")

    def test_a_body_without_a_content_type_is_text_when_it_is_utf8(self):
        r = self.runtime("index.http_event")
        event = json.loads(r.request("POST", "/", "héllo".encode(), control="/http-invoke")[2])
        self.assertEqual((event["body"], event["isBase64Encoded"]), ("héllo", False))
        event = json.loads(r.request("POST", "/", b"\xff\xfe", control="/http-invoke")[2])
        self.assertEqual((event["body"], event["isBase64Encoded"]), ("//4=", True))

    def test_the_response_object_becomes_the_response(self):
        r = self.runtime("index.http_response")
        status, headers, body = r.request("GET", "/pic", control="/http-invoke")
        self.assertEqual((status, headers["x-custom"], body), (201, "yes", b"\x00binary /pic"))

    def test_a_plain_return_value_is_the_body(self):
        status, _, body = self.runtime("index.http_plain").request("GET", "/", control="/http-invoke")
        self.assertEqual((status, body), (200, b"just a body"))

    def test_an_exception_answers_502(self):
        status, headers, body = self.runtime("index.fails").request("GET", "/", control="/http-invoke")
        self.assertEqual((status, headers["x-fc-error-type"]), (502, "UnhandledInvocationError"))
        self.assertEqual(json.loads(body)["errorType"], "ZeroDivisionError")

    def test_fc2_http_functions_are_wsgi(self):
        r = self.runtime("index.wsgi", FCEMU_EDITION="2.0")
        status, headers, body = r.request("POST", "/a%20b?x=1", b"payload", control="/http-invoke")
        self.assertEqual(status, 202)
        self.assertEqual(headers["x-path"], "/a b")
        self.assertEqual(headers["set-cookie"], "a=1, b=2", "each value the application gave")
        self.assertEqual(body, b"method=POST query=x=1 body=payload fn=fn")


if __name__ == "__main__":
    unittest.main()
