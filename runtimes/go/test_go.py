"""Tests of fcemu's Go runtime: the real go.py as a process, driven over HTTP as fcemu drives it, serving an
executable that speaks FC's runtime API as the Go SDK does (testdata/main).

Run: python3 -m unittest discover -s runtimes/go
"""

import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
# In an instance go.py sits beside bootstrap.py; here it is found where it is kept.
PYTHON_RUNTIME = os.path.join(HERE, "..", "python")
sys.path.insert(0, PYTHON_RUNTIME)

from test_bootstrap import Runtime  # noqa: E402

GO = os.path.join(HERE, "go.py")
CODE = os.path.join(HERE, "testdata") + "/"


def go_runtime(handler="main", **env):
    return Runtime(handler, script=GO, code=CODE, FCEMU_INITIALIZER="true", FCEMU_PRE_STOP="true",
                   PYTHONPATH=PYTHON_RUNTIME, **env)


class GoRuntimeTest(unittest.TestCase):
    def setUp(self):
        self.runtime = go_runtime()

    def tearDown(self):
        self.runtime.stop()

    def test_an_event_goes_to_the_executable_and_its_result_comes_back(self):
        status, headers, body = self.runtime.invoke(b'{"do": "echo", "n": 1}')
        self.assertEqual(status, 200)
        self.assertNotIn("connection", headers, "the connection is kept for the next request")
        self.assertEqual(json.loads(body), {"do": "echo", "n": 1})
        out = self.runtime.stop()
        self.assertIn("function started", out)
        self.assertIn("FC Invoke Start RequestId: 1-6650f0a0-0a1b2c3d-4e5f60718293", out)
        self.assertIn("FC Invoke End RequestId: 1-6650f0a0-0a1b2c3d-4e5f60718293", out)

    def test_the_invocation_carries_fcs_context_as_the_sdk_reads_it(self):
        status, _, body = self.runtime.request("POST", "/invoke", b'{"do": "context"}', request_id="r-ctx",
                                               headers={"x-fc-access-key-id": "AK"})
        self.assertEqual(status, 200)
        seen = json.loads(body)
        self.assertEqual(seen["x-fc-request-id"], "r-ctx")
        self.assertEqual(seen["x-fc-function-type"], "0")
        self.assertEqual(seen["x-fc-function-timeout"], "7")
        self.assertEqual(seen["x-fc-function-name"], "fn")
        self.assertEqual(seen["x-fc-function-memory"], "512")
        self.assertEqual(seen["x-fc-access-key-id"], "AK")
        self.assertEqual(seen["x-fc-region"], "cn-hangzhou")
        self.assertEqual(seen["x-fc-account-id"], "1234")
        # The deadline is the timeout from now, in epoch milliseconds (as the SDK parses it).
        import time
        deadline = int(seen["x-fc-function-deadline"]) / 1000 - time.time()
        self.assertTrue(5 < deadline <= 7, deadline)

    def test_an_error_is_fcs_unhandled_invocation_error_and_the_instance_stays(self):
        status, headers, body = self.runtime.invoke(b'{"do": "fail"}')
        self.assertEqual(status, 200)
        self.assertEqual(headers["x-fc-error-type"], "UnhandledInvocationError")
        error = json.loads(body)
        self.assertEqual(error["errorMessage"], "it went wrong")
        self.assertEqual(error["errorType"], "*errors.errorString")
        self.assertEqual(error["stackTrace"], [{"path": "main.go", "line": 12, "label": "handler"}])
        self.assertNotIn("shouldExit", error)
        status, _, body = self.runtime.invoke(b'{"do": "echo"}')
        self.assertEqual(status, 200)

    def test_an_http_trigger_request_is_the_event_and_the_response_fc_makes_of_the_answer(self):
        status, headers, body = self.runtime.request("PUT", "/some/where?a=1", b"x", control="/http-invoke")
        self.assertEqual(status, 201)
        self.assertEqual(headers["x-seen-path"], "/some/where")
        self.assertEqual(body, b"method PUT")

    def test_hooks_are_invocations_of_their_function_type(self):
        for path, kind, word in (("/initialize", 1, "Initialize"), ("/pre-stop", 2, "PreStop")):
            status, _, _ = self.runtime.request("POST" if kind == 1 else "GET", path, request_id=f"r-{kind}")
            self.assertEqual(status, 200)
        out = self.runtime.stop()
        self.assertIn("hook 1 ran for r-1", out)
        self.assertIn("hook 2 ran for r-2", out)
        self.assertIn("FC Initialize Start RequestId: r-1", out)
        self.assertIn("FC PreStop End RequestId: r-2", out)

    def test_when_the_executable_exits_the_request_is_answered_and_the_runtime_ends_with_it(self):
        status, headers, body = self.runtime.invoke(b'{"do": "exit"}')
        self.assertEqual(headers["x-fc-error-type"], "UnhandledInvocationError")
        error = json.loads(body)
        self.assertEqual(error["errorType"], "Runtime.ExitError")
        self.assertIn("status 3", error["errorMessage"])
        # What tells fcemu not to freeze the instance while its process ends.
        self.assertEqual(headers.get("connection"), "close")
        self.assertEqual(self.runtime.process.wait(timeout=10), 3)


class HttpFunctionTest(unittest.TestCase):
    def test_fc2_http_functions_get_the_request_in_http_params_and_answer_status_and_headers_in_theirs(self):
        runtime = go_runtime(FCEMU_EDITION="2.0")
        self.addCleanup(runtime.stop)
        status, headers, body = runtime.request(
            "POST", "/items/7?color=red&color=blue&empty=", b"the body", control="/items/7",
            headers={"X-Custom": "yes", "content-type": "text/plain"})
        self.assertEqual(status, 201)
        self.assertEqual(headers["content-type"], "application/json")
        seen = json.loads(body)
        self.assertEqual(seen["body"], "the body")
        request = seen["request"]
        self.assertEqual((request["method"], request["path"], request["requestURI"]),
                         ("POST", "/items/7", "/items/7?color=red&color=blue&empty="))
        self.assertEqual(request["queriesMap"], {"color": ["red", "blue"], "empty": [""]})
        # Canonical names, as Go's http.Header keeps them; fcemu's x-fc-* headers are not the client's.
        self.assertEqual(request["headersMap"]["X-Custom"], ["yes"])
        self.assertEqual(request["headersMap"]["Content-Type"], ["text/plain"])
        self.assertFalse(any(name.lower().startswith("x-fc-") for name in request["headersMap"]), request)


class MissingExecutableTest(unittest.TestCase):
    def test_a_handler_that_names_no_file_says_how_to_build_one(self):
        with self.assertRaises(AssertionError) as failed:
            go_runtime(handler="nothere")
        message = str(failed.exception)
        self.assertIn('the handler "nothere" names', message)
        self.assertIn("GOOS=linux", message)


if __name__ == "__main__":
    unittest.main()
