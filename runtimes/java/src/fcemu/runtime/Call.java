// One call of the function's code for a request: what it asks for, its FC Start and End lines, and its
// answer, with the error as FC answers it.
package fcemu.runtime;

import com.sun.net.httpserver.HttpExchange;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

final class Call {
    enum Kind { EVENT, HTTP, HOOK }

    /** The call in progress, for an answer should the process end mid-call. */
    static volatile Call current;

    final HttpExchange exchange;
    final Kind kind;
    /** FC's word for it in the Start and End lines: Invoke, Initialize, PreStop, PreFreeze. */
    final String word;
    final String handler;
    final byte[] body;
    final ContextValues context;
    private boolean answered;

    private Call(HttpExchange exchange, Kind kind, String word, String handler, byte[] body) {
        this.exchange = exchange;
        this.kind = kind;
        this.word = word;
        this.handler = handler;
        this.body = body;
        this.context = new ContextValues(exchange.getRequestHeaders());
    }

    /**
     * Reads what a request asks for and prints its Start line; null when it is answered already (fcemu's
     * readiness probe, a hook that is not set).
     */
    static Call begin(HttpExchange exchange) throws IOException {
        String method = exchange.getRequestMethod();
        String path = exchange.getRequestURI().getRawPath();
        if ("OPTIONS".equals(method) && "*".equals(exchange.getRequestURI().toString())) {
            // fcemu's readiness probe through a published port: the server is there, and no handler runs.
            Bootstrap.answer(exchange, 200, null, new byte[0]);
            return null;
        }
        String control = exchange.getRequestHeaders().getFirst("x-fc-control-path");
        String route = control == null || control.isEmpty() ? path : control;
        Kind kind = Kind.HTTP;
        String word = "Invoke";
        String handler = Bootstrap.env("FC_FUNCTION_HANDLER", "");
        String[] hook = hook(route);
        if ("/invoke".equals(route)) {
            kind = Kind.EVENT;
        } else if (hook != null) {
            kind = Kind.HOOK;
            word = hook[0];
            handler = Bootstrap.env(hook[1], "");
            if (handler.isEmpty()) {
                Bootstrap.answer(exchange, 404, null, ("no " + word + " handler is set").getBytes(StandardCharsets.UTF_8));
                return null;
            }
        }
        Call call = new Call(exchange, kind, word, handler, Bootstrap.readAll(exchange.getRequestBody()));
        Logger.requestId = call.context.requestId;
        Bootstrap.OUT.println("FC " + word + " Start RequestId: " + call.context.requestId);
        current = call;
        return call;
    }

    private static String[] hook(String route) {
        switch (route) {
            case "/initialize": return new String[] {"Initialize", "FCEMU_INITIALIZER"};
            case "/pre-stop": return new String[] {"PreStop", "FCEMU_PRE_STOP"};
            case "/pre-freeze": return new String[] {"PreFreeze", "FCEMU_PRE_FREEZE"};
            default: return null;
        }
    }

    /** Calls the function as the request asks, and answers. */
    void run(Functions functions) {
        int status = 200;
        Map<String, List<String>> headers = new LinkedHashMap<>();
        byte[] answer = new byte[0];
        ClassLoader before = Thread.currentThread().getContextClassLoader();
        try {
            Thread.currentThread().setContextClassLoader(functions.loader());
            switch (kind) {
                case EVENT:
                    answer = functions.invoke(handler, body, context);
                    break;
                case HOOK:
                    functions.hook(handler, context);
                    break;
                case HTTP:
                    HttpTrigger.Response response = HttpTrigger.call(functions, this);
                    status = response.status;
                    headers = response.headers;
                    answer = response.body;
                    break;
            }
        } catch (Throwable e) {
            Map<String, Object> error = Errors.body(e);
            Logger.print("ERROR", error.get("errorType") + ": " + error.get("errorMessage")
                    + Errors.lines((List<?>) error.get("stackTrace")));
            status = kind == Kind.EVENT ? 200 : kind == Kind.HTTP ? 502 : 500;
            headers = errorHeaders();
            answer = Json.bytes(error);
        } finally {
            Thread.currentThread().setContextClassLoader(before);
        }
        end(status, headers, answer);
    }

    private Map<String, List<String>> errorHeaders() {
        Map<String, List<String>> headers = new LinkedHashMap<>();
        headers.put("content-type", Collections.singletonList("application/json"));
        String type = kind == Kind.HOOK ? word + "Error" : "UnhandledInvocationError";
        headers.put("x-fc-error-type", Collections.singletonList(type));
        return headers;
    }

    /** The process is ending mid-call: the request is answered so, with `Connection: close`. */
    void answerEnded() {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("errorMessage", "the function ended the Java process");
        error.put("errorType", "ProcessExited");
        error.put("stackTrace", new ArrayList<String>());
        Map<String, List<String>> headers = errorHeaders();
        // `Connection: close` tells fcemu that the process ends: it does not freeze the instance.
        headers.put("connection", Collections.singletonList("close"));
        end(kind == Kind.EVENT ? 200 : kind == Kind.HTTP ? 502 : 500, headers, Json.bytes(error));
    }

    /** Prints the End line and sends the answer, once (the call's thread and a shutdown may both try). */
    private synchronized void end(int status, Map<String, List<String>> headers, byte[] answer) {
        if (answered) {
            return;
        }
        answered = true;
        current = null;
        Bootstrap.OUT.println("FC " + word + " End RequestId: " + context.requestId);
        Logger.requestId = "";
        Bootstrap.answer(exchange, status, headers, answer);
    }
}
