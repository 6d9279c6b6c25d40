// fcemu's runtime for FC's Java built-in runtimes (java8, java11, java17, java21), on Debian's OpenJDK.
//
// It implements FC's Java programming model on the HTTP contract fcemu speaks to every instance:
//   POST /invoke      an event: the handler `package.Class::method` is a StreamRequestHandler's
//                     handleRequest(InputStream, OutputStream, Context) or a PojoRequestHandler's
//                     handleRequest(I, Context), the event read into I as JSON and the result written as JSON
//   any other path    an HTTP trigger request (x-fc-control-path: /http-invoke): FC 3.0 passes the handler the
//                     HTTP trigger event, and turns what it writes or returns, {statusCode, headers, body,
//                     isBase64Encoded}, into the response
//   POST /initialize  the Initializer: `Class::initialize`, a method taking the Context
//   GET /pre-stop     PreStop; GET /pre-freeze FC 2.0's PreFreeze
//
// One request at a time, as FC's Java runtime does: one thread serves them all. The code folder
// (FC_FUNC_CODE_PATH: the jar unpacked, or a folder of classes) and its lib/*.jar are loaded in a class loader
// of their own that sees none of this runtime's classes, so the code's libraries (its own Jackson too) are the
// ones it brought. Written to Java 8's language and API, so an image with an older JDK runs it too.
package fcemu.runtime;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;

public final class Bootstrap {
    /** What the process prints: the function's lines and the runtime's, in the order they were written. */
    static final PrintStream OUT = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true);

    public static void main(String[] args) throws IOException {
        // Lines go out as they are printed, as FC's runtime does: a line printed is a line kept at once.
        System.setOut(OUT);
        System.setErr(new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.err), true));
        // Without it the JDK's server sends an answer's head and body in two packets, and the second waits
        // for the client's delayed ACK (40 ms on Linux) under Nagle's algorithm.
        System.setProperty("sun.net.httpserver.nodelay", "true");
        String port = env("FC_CUSTOM_LISTEN_PORT", "9000");
        Functions functions = new Functions(env("FC_FUNC_CODE_PATH", "/code/"));
        final HttpServer server = HttpServer.create(new InetSocketAddress(Integer.parseInt(port)), 64);
        server.createContext("/", exchange -> serve(functions, exchange));
        server.setExecutor(Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "fc-invoke");
            return t;
        }));
        // Should the process end during a call (System.exit() in the function, a signal), its request is
        // answered first, and the process then ends at once: fcemu freezes an instance as soon as its answer
        // is in, and the JVM's own teardown would be frozen half-way until the next thaw.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            Call call = Call.current;
            if (call != null) {
                call.answerEnded();
                Runtime.getRuntime().halt(0);
            }
        }, "fc-shutdown"));
        server.start();
        // The JSON library's first use costs a few hundred milliseconds of class loading: done now, beside the
        // Initializer, rather than inside the first request's time (and its timeout).
        Thread warmUp = new Thread(Json::warmUp, "fc-warm-up");
        warmUp.setDaemon(true);
        warmUp.setPriority(Thread.MIN_PRIORITY);
        warmUp.start();
    }

    static String env(String name, String fallback) {
        String value = System.getenv(name);
        return value == null || value.isEmpty() ? fallback : value;
    }

    private static void serve(Functions functions, HttpExchange exchange) {
        try {
            Call call = Call.begin(exchange);
            if (call != null) {
                call.run(functions);
            }
        } catch (Throwable e) {
            // The runtime's own fault: said, and answered so that the request is not left waiting.
            e.printStackTrace();
            answer(exchange, 500, null, ("fcemu's Java runtime failed: " + e).getBytes(StandardCharsets.UTF_8));
        } finally {
            exchange.close();
        }
    }

    /** Sends the answer; a HEAD request's has no body. */
    static void answer(HttpExchange exchange, int status, java.util.Map<String, java.util.List<String>> headers,
            byte[] body) {
        try {
            if (headers != null) {
                for (java.util.Map.Entry<String, java.util.List<String>> h : headers.entrySet()) {
                    for (String value : h.getValue()) {
                        // A value cannot end the header early.
                        exchange.getResponseHeaders().add(h.getKey(), value.replace('\r', ' ').replace('\n', ' '));
                    }
                }
            }
            boolean empty = body.length == 0 || "HEAD".equals(exchange.getRequestMethod());
            exchange.sendResponseHeaders(status, empty ? -1 : body.length);
            if (!empty) {
                OutputStream out = exchange.getResponseBody();
                out.write(body);
                out.flush();
            }
        } catch (IOException e) {
            // The client went away.
        }
    }

    static byte[] readAll(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buffer = new byte[65536];
        for (int n; (n = in.read(buffer)) > 0; ) {
            out.write(buffer, 0, n);
        }
        return out.toByteArray();
    }

    private Bootstrap() {}
}
