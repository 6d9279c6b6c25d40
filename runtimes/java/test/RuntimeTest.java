// Tests of fcemu's Java runtime on the JDK its functions get: each starts the runtime as fcemu does (its own
// process, on a port, with FC's environment) over a code folder, and drives it over HTTP as fcemu does.
// Usage: java RuntimeTest RUNTIME_DIR CODE_DIR BARE_CODE_DIR (test/run.sh makes them).
//   CODE_DIR       the test handlers with their own copy of fc-java-core's interfaces and lib/servlet-api.jar,
//                  as a fat jar unpacked
//   BARE_CODE_DIR  the handlers alone, as code that declared fc-java-core `provided`

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Pattern;

public final class RuntimeTest {
    static String runtimeDir;
    static String codeDir;
    static String bareDir;

    /** The runtime in a process of its own, with what it printed. */
    static final class Runtime implements AutoCloseable {
        final Process process;
        final int port;
        final StringBuffer printed = new StringBuffer();

        Runtime(String code, Map<String, String> env) throws Exception {
            try (ServerSocket s = new ServerSocket(0)) {
                port = s.getLocalPort();
            }
            ProcessBuilder pb = new ProcessBuilder("java", "-cp", runtimeDir + "/classes:" + runtimeDir + "/lib/*",
                    "fcemu.runtime.Bootstrap");
            pb.environment().put("FC_CUSTOM_LISTEN_PORT", String.valueOf(port));
            pb.environment().put("FC_FUNC_CODE_PATH", code + "/");
            pb.environment().put("FCEMU_RUNTIME_DIR", runtimeDir);
            pb.environment().put("FC_FUNCTION_NAME", "java-fn");
            pb.environment().putAll(env);
            pb.redirectErrorStream(true);
            process = pb.start();
            Thread reader = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = r.readLine()) != null; ) {
                        printed.append(line).append('\n');
                    }
                } catch (IOException e) {
                    // ended
                }
            });
            reader.setDaemon(true);
            reader.start();
            long deadline = System.currentTimeMillis() + 20_000;
            while (true) {
                try (Socket s = new Socket("127.0.0.1", port)) {
                    break;
                } catch (IOException e) {
                    check(System.currentTimeMillis() < deadline && process.isAlive(), "the runtime listens: " + printed);
                    Thread.sleep(20);
                }
            }
        }

        Answer send(String method, String path, String body, String... headers) throws IOException {
            HttpURLConnection c = (HttpURLConnection) new URL("http://127.0.0.1:" + port + path).openConnection();
            c.setRequestMethod(method);
            for (int i = 0; i + 1 < headers.length; i += 2) {
                c.setRequestProperty(headers[i], headers[i + 1]);
            }
            if (body != null) {
                c.setDoOutput(true);
                try (OutputStream out = c.getOutputStream()) {
                    out.write(body.getBytes(StandardCharsets.UTF_8));
                }
            }
            Answer a = new Answer();
            a.status = c.getResponseCode();
            a.headers = c.getHeaderFields();
            InputStream in = a.status >= 400 ? c.getErrorStream() : c.getInputStream();
            a.body = in == null ? "" : new String(readAll(in), StandardCharsets.UTF_8);
            return a;
        }

        Answer invoke(String rid, String event) throws IOException {
            return send("POST", "/invoke", event, "x-fc-request-id", rid);
        }

        @Override
        public void close() throws Exception {
            process.destroyForcibly().waitFor();
        }
    }

    static final class Answer {
        int status;
        Map<String, List<String>> headers;
        String body;

        List<String> values(String name) {
            for (Map.Entry<String, List<String>> h : headers.entrySet()) {
                if (name.equalsIgnoreCase(h.getKey())) {
                    return h.getValue();
                }
            }
            return new ArrayList<>();
        }

        String header(String name) {
            List<String> values = values(name);
            return values.isEmpty() ? null : String.join("; ", values);
        }

        @Override
        public String toString() {
            return status + " " + headers + " " + body;
        }
    }

    static byte[] readAll(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] b = new byte[8192];
        for (int n; (n = in.read(b)) > 0; ) {
            out.write(b, 0, n);
        }
        return out.toByteArray();
    }

    static void check(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
    }

    static Map<String, String> env(String... kv) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i + 1 < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return m;
    }

    static final Map<String, Callable<Void>> TESTS = new LinkedHashMap<>();

    static void test(String name, Callable<Void> body) {
        TESTS.put(name, body);
    }

    public static void main(String[] args) throws Exception {
        runtimeDir = args[0];
        codeDir = args[1];
        bareDir = args[2];
        defineTests();
        int failed = 0;
        for (Map.Entry<String, Callable<Void>> t : TESTS.entrySet()) {
            try {
                t.getValue().call();
                System.out.println("ok   " + t.getKey());
            } catch (Throwable e) {
                failed++;
                System.out.println("FAIL " + t.getKey() + ": " + e);
            }
        }
        System.out.println(TESTS.size() - failed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }

    static final String STREAM = "example.StreamApp::handleRequest";

    static void defineTests() {
        test("a stream handler gets the event and its Initializer's state, with FC's lines and logger", () -> {
            try (Runtime rt = new Runtime(codeDir, env("FC_FUNCTION_HANDLER", STREAM,
                    "FCEMU_INITIALIZER", "example.StreamApp::initialize"))) {
                Answer init = rt.send("POST", "/initialize", "", "x-fc-request-id", "i-1");
                check(init.status == 200, "initialized: " + init);
                Answer a = rt.invoke("r-1", "{\"a\":1}");
                check(a.status == 200 && a.body.equals("initialized=1 event={\"a\":1}"), a.toString());
                String out = rt.printed.toString();
                for (String line : new String[] {"FC Initialize Start RequestId: i-1\n", "FC Initialize End RequestId: i-1\n",
                        "FC Invoke Start RequestId: r-1\n", "printed by the handler\n", "FC Invoke End RequestId: r-1\n"}) {
                    check(out.contains(line), line + " in " + out);
                }
                check(Pattern.compile("(?m)^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z r-1 \\[WARN\\] handling r-1$")
                        .matcher(out).find(), "the logger's line: " + out);
                check(Pattern.compile("(?m)^\\S+ i-1 \\[INFO\\] initialized 1$").matcher(out).find(), out);
                check(!out.contains("not shown at INFO"), "debug lines are below the default level: " + out);
                return null;
            }
        });
        test("an exception is FC's UnhandledInvocationError with the function's stack and causes, and the instance serves on", () -> {
            try (Runtime rt = new Runtime(codeDir, env("FC_FUNCTION_HANDLER", STREAM))) {
                Answer a = rt.invoke("r-2", "{\"fail\":true}");
                check(a.status == 200 && "UnhandledInvocationError".equals(a.header("x-fc-error-type")), a.toString());
                check(a.body.contains("\"errorMessage\":\"the event asked to fail\""), a.body);
                check(a.body.contains("\"errorType\":\"java.lang.IllegalStateException\""), a.body);
                check(a.body.contains("\"stackTrace\":[\"example.StreamApp.handleRequest(StreamApp.java:"), a.body);
                check(a.body.contains("\"Caused by: java.io.IOException: the cause\""), a.body);
                check(!a.body.contains("fcemu.runtime") && !a.body.contains("reflect"), "only the function's frames: " + a.body);
                check(rt.printed.toString().contains("r-2 [ERROR] java.lang.IllegalStateException: the event asked to fail"), rt.printed.toString());
                Answer next = rt.invoke("r-3", "{}");
                check(next.status == 200 && next.body.startsWith("initialized=0"), next.toString());
                return null;
            }
        });
        test("hooks: PreStop runs with the Context, a failing hook is its hook's error, a hook not set is 404", () -> {
            try (Runtime rt = new Runtime(codeDir, env("FC_FUNCTION_HANDLER", STREAM,
                    "FCEMU_PRE_STOP", "example.StreamApp::preStop", "FCEMU_PRE_FREEZE", "example.StreamApp::failingHook"))) {
                Answer stop = rt.send("GET", "/pre-stop", null, "x-fc-request-id", "s-1");
                check(stop.status == 200, stop.toString());
                check(rt.printed.toString().contains("s-1 [INFO] pre-stop of java-fn"), rt.printed.toString());
                check(rt.printed.toString().contains("FC PreStop End RequestId: s-1"), rt.printed.toString());
                Answer freeze = rt.send("GET", "/pre-freeze", null, "x-fc-request-id", "f-1");
                check(freeze.status == 500 && "PreFreezeError".equals(freeze.header("x-fc-error-type")), freeze.toString());
                check(freeze.body.contains("the hook failed"), freeze.body);
                Answer init = rt.send("POST", "/initialize", "", "x-fc-request-id", "i-2");
                check(init.status == 404, init.toString());
                return null;
            }
        });
        test("a handler name that names nothing is a HandlerError that says what is missing", () -> {
            try (Runtime rt = new Runtime(codeDir, env("FC_FUNCTION_HANDLER", "example.Missing::handleRequest"))) {
                Answer a = rt.invoke("r-4", "{}");
                check(a.body.contains("\"errorType\":\"HandlerError\"") && a.body.contains("class example.Missing is not in the code"), a.body);
            }
            try (Runtime rt = new Runtime(codeDir, env("FC_FUNCTION_HANDLER", "example.StreamApp"))) {
                Answer a = rt.invoke("r-5", "{}");
                check(a.body.contains("is not package.Class::method"), a.body);
            }
            try (Runtime rt = new Runtime(codeDir, env("FC_FUNCTION_HANDLER", "example.StreamApp::nothing"))) {
                Answer a = rt.invoke("r-6", "{}");
                check(a.body.contains("has no public method nothing"), a.body);
                return null;
            }
        });
        test("a POJO handler reads the event into its class and its result is JSON; the Context has FC's fields", () -> {
            for (String code : new String[] {codeDir, bareDir}) {
                try (Runtime rt = new Runtime(code, env("FC_FUNCTION_HANDLER", "example.PojoApp::handleRequest",
                        "FCEMU_SERVICE_NAME", "svc"))) {
                    Answer a = rt.send("POST", "/invoke", "{\"name\":\"fc\",\"numbers\":[1,2,3],\"extra\":true}",
                            "x-fc-request-id", "r-7", "x-fc-function-memory", "256", "x-fc-function-timeout", "3",
                            "x-fc-access-key-id", "AK", "x-fc-security-token", "TOKEN", "x-fc-retry-count", "2");
                    check(a.status == 200 && a.body.startsWith("{\"greeting\":\"hello fc\",\"sum\":6,"), a.toString());
                    for (String field : new String[] {"\"requestId\":\"r-7\"", "\"function\":\"java-fn\"", "\"memory\":256",
                            "\"timeoutMs\":3000", "\"accessKeyId\":\"AK\"", "\"securityToken\":\"TOKEN\"",
                            "\"service\":\"svc\"", "\"qualifier\":\"LATEST\"", "\"retryCount\":2"}) {
                        check(a.body.contains(field), field + " in " + a.body);
                    }
                    // The proxy implements the code's own copy of the interface when it brings one.
                    String from = code == codeDir ? code + "/\"" : runtimeDir + "/fc/\"";
                    check(a.body.contains("\"contextFrom\":\"" + from), from + " in " + a.body);
                }
            }
            return null;
        });
        test("FC 3.0's HTTP trigger: the handler gets the event and answers statusCode, headers and body", () -> {
            try (Runtime rt = new Runtime(codeDir, env("FC_FUNCTION_HANDLER", "example.PojoApp$Http::handleRequest"))) {
                Answer a = rt.send("GET", "/some/path?x=1&x=2&y=%20z", null, "x-fc-control-path", "/http-invoke",
                        "x-fc-request-id", "h-1", "User-Agent", "tester");
                check(a.status == 201, a.toString());
                check("{x=1,2, y= z}".equals(a.header("x-echo")), a.toString());
                check(a.body.equals("GET /some/path  base64=false agent=tester"), a.body);
                Answer b = rt.send("POST", "/bin", "\u00ff\u0000", "x-fc-control-path", "/http-invoke",
                        "content-type", "application/octet-stream");
                check(b.body.startsWith("POST /bin w78A base64=true"), b.body);
            }
            try (Runtime rt = new Runtime(codeDir, env("FC_FUNCTION_HANDLER", STREAM))) {
                Answer a = rt.send("GET", "/", null, "x-fc-control-path", "/http-invoke");
                check(a.status == 200 && a.body.startsWith("initialized=0 event={\"version\":\"v1\",\"rawPath\":\"/\""), a.toString());
                return null;
            }
        });
        test("FC 2.0's HttpRequestHandler gets the Servlet API's request and response, with or without its own copy", () -> {
            for (String code : new String[] {codeDir, bareDir}) {
                try (Runtime rt = new Runtime(code, env("FC_FUNCTION_HANDLER", "example.ServletApp::handleRequest",
                        "FCEMU_EDITION", "2.0"))) {
                    Answer a = rt.send("POST", "/p/q?q=7", "hi", "x-fc-control-path", "/http-invoke", "x-fc-request-id", "h-2");
                    check(a.status == 202, a.toString());
                    // (HttpURLConnection lists a repeated header's values last first.)
                    List<String> cookies = a.values("set-cookie");
                    check(cookies.contains("a=1") && cookies.contains("b=2"), "both cookies: " + a);
                    check(a.body.equals("POST /p/q q=7 hi rid=h-2"), a.body);
                }
            }
            return null;
        });
        test("one request at a time", () -> {
            try (Runtime rt = new Runtime(codeDir, env("FC_FUNCTION_HANDLER", STREAM))) {
                ExecutorService pool = Executors.newFixedThreadPool(3);
                List<Future<Answer>> answers = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    answers.add(pool.submit(() -> rt.invoke("c", "{\"slow\":1}")));
                }
                for (Future<Answer> a : answers) {
                    check(a.get().body.equals("at most 1 at once"), a.get().toString());
                }
                pool.shutdown();
                return null;
            }
        });
        test("System.exit() in the handler is answered ProcessExited with Connection: close, and the process ends", () -> {
            try (Runtime rt = new Runtime(codeDir, env("FC_FUNCTION_HANDLER", STREAM))) {
                Answer a = rt.invoke("x-1", "{\"exit\":true}");
                check(a.status == 200 && a.body.contains("\"errorType\":\"ProcessExited\""), a.toString());
                check("close".equalsIgnoreCase(a.header("connection")), a.toString());
                check(rt.process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS), "the process ended");
                check(rt.printed.toString().contains("FC Invoke End RequestId: x-1"), rt.printed.toString());
                return null;
            }
        });
    }
}
