// FC 2.0's HTTP functions in Java: HttpRequestHandler's handleRequest(HttpServletRequest, HttpServletResponse,
// Context). The request and the response are dynamic proxies of the Servlet API's interfaces as the
// function's code knows them (its own javax.servlet, or the one fcemu puts after it); their body streams,
// which the API makes classes, are fcemu's servlet/ classes loaded beside the code. The request has FC's
// attributes FC_REQUEST_PATH, FC_REQUEST_URI and FC_REQUEST_CLIENT_IP.
package fcemu.runtime;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

final class Servlets {
    private static ClassLoader streams;

    static HttpTrigger.Response call(Functions.Target handler, Call call, ClassLoader code) throws Throwable {
        Class<?>[] types = handler.method.getParameterTypes();
        ResponseState state = new ResponseState();
        Object request = proxy(types[0], new RequestAnswers(call, code));
        Object response = proxy(types[1], (self, method, args) -> "equals".equals(method.getName())
                ? (Object) (self == args[0]) : state.answer(method, args, code));
        handler.call(request, response, call.context.proxy(code));
        if (state.writer != null) {
            state.writer.flush();
        }
        HttpTrigger.Response out = new HttpTrigger.Response();
        out.status = state.status;
        out.headers = state.headers;
        out.body = state.body.toByteArray();
        return out;
    }

    private static Object proxy(Class<?> type, InvocationHandler answers) {
        return Proxy.newProxyInstance(type.getClassLoader(), new Class<?>[] {type}, answers);
    }

    /** fcemu's body stream classes, as subclasses of the code's own ServletInputStream and ServletOutputStream. */
    private static synchronized Object stream(ClassLoader code, String name, Class<?> parameter, Object arg)
            throws Exception {
        if (streams == null) {
            URL dir = new File(Bootstrap.env("FCEMU_RUNTIME_DIR", "/var/fcemu/runtime"), "servlet/").toURI().toURL();
            streams = new URLClassLoader(new URL[] {dir}, code);
        }
        return streams.loadClass("fcemu.runtime.servlet." + name).getConstructor(parameter).newInstance(arg);
    }

    /** What the request's methods answer. */
    private static final class RequestAnswers implements InvocationHandler {
        private final Call call;
        private final ClassLoader code;
        private final Map<String, Object> attributes = new LinkedHashMap<>();
        private final Map<String, String> query;

        RequestAnswers(Call call, ClassLoader code) {
            this.call = call;
            this.code = code;
            String target = call.exchange.getRequestURI().getRawPath();
            String raw = call.exchange.getRequestURI().getRawQuery();
            attributes.put("FC_REQUEST_PATH", call.exchange.getRequestURI().getPath());
            attributes.put("FC_REQUEST_URI", raw == null ? target : target + "?" + raw);
            attributes.put("FC_REQUEST_CLIENT_IP", call.exchange.getRemoteAddress().getAddress().getHostAddress());
            query = HttpTrigger.query(raw);
        }

        @Override
        public Object invoke(Object self, Method method, Object[] args) throws Throwable {
            String first = args != null && args.length > 0 && args[0] instanceof String ? (String) args[0] : null;
            com.sun.net.httpserver.Headers headers = call.exchange.getRequestHeaders();
            switch (method.getName()) {
                case "getMethod": return call.exchange.getRequestMethod();
                case "getRequestURI": return call.exchange.getRequestURI().getRawPath();
                case "getPathInfo": case "getServletPath": return call.exchange.getRequestURI().getPath();
                case "getContextPath": return "";
                case "getQueryString": return call.exchange.getRequestURI().getRawQuery();
                case "getRequestURL": return new StringBuffer("http://" + headers.getFirst("host")
                        + call.exchange.getRequestURI().getRawPath());
                case "getProtocol": return "HTTP/1.1";
                case "getScheme": return "http";
                case "getRemoteAddr": case "getRemoteHost": return attributes.get("FC_REQUEST_CLIENT_IP");
                case "getHeader": return headers.getFirst(first);
                case "getHeaders": {
                    List<String> values = headers.get(first);
                    return Collections.enumeration(values == null ? Collections.<String>emptyList() : values);
                }
                case "getHeaderNames": {
                    List<String> names = new ArrayList<>();
                    for (String name : headers.keySet()) {
                        if (!name.toLowerCase(Locale.ROOT).startsWith("x-fc-")) {
                            names.add(HttpTrigger.canonical(name));
                        }
                    }
                    return Collections.enumeration(names);
                }
                case "getIntHeader": {
                    String value = headers.getFirst(first);
                    return value == null ? -1 : Integer.parseInt(value.trim());
                }
                case "getContentType": return headers.getFirst("content-type");
                case "getContentLength": return call.body.length;
                case "getContentLengthLong": return (long) call.body.length;
                case "getCharacterEncoding": return "UTF-8";
                case "getInputStream": return stream(code, "BodyInputStream", byte[].class, call.body);
                case "getReader": return new BufferedReader(new InputStreamReader(
                        new java.io.ByteArrayInputStream(call.body), StandardCharsets.UTF_8));
                case "getParameter": return query.get(first) == null ? null : query.get(first).split(",", -1)[0];
                case "getParameterValues": return query.get(first) == null ? null : query.get(first).split(",", -1);
                case "getParameterNames": return Collections.enumeration(query.keySet());
                case "getParameterMap": {
                    Map<String, String[]> map = new LinkedHashMap<>();
                    query.forEach((k, v) -> map.put(k, v.split(",", -1)));
                    return map;
                }
                case "getAttribute": return attributes.get(first);
                case "getAttributeNames": return Collections.enumeration(attributes.keySet());
                case "setAttribute": attributes.put(first, args[1]); return null;
                case "removeAttribute": attributes.remove(first); return null;
                case "toString": return call.exchange.getRequestMethod() + " " + call.exchange.getRequestURI();
                case "hashCode": return System.identityHashCode(self);
                case "equals": return self == args[0];
                default:
                    throw new UnsupportedOperationException("HttpServletRequest." + method.getName()
                            + " is not served by fcemu's Java runtime");
            }
        }
    }

    /** What the handler set on the response. */
    private static final class ResponseState {
        int status = 200;
        final Map<String, List<String>> headers = new LinkedHashMap<>();
        final ByteArrayOutputStream body = new ByteArrayOutputStream();
        Charset charset = StandardCharsets.UTF_8;
        PrintWriter writer;

        Object answer(Method method, Object[] args, ClassLoader code) throws Exception {
            String first = args != null && args.length > 0 && args[0] instanceof String ? (String) args[0] : null;
            switch (method.getName()) {
                case "setStatus": status = (Integer) args[0]; return null;
                case "sendError":
                    status = (Integer) args[0];
                    if (args.length > 1) {
                        body.write(String.valueOf(args[1]).getBytes(charset));
                    }
                    return null;
                case "getStatus": return status;
                case "setHeader": case "setIntHeader": case "setDateHeader":
                    headers.put(first.toLowerCase(Locale.ROOT), new ArrayList<>(Collections.singletonList(String.valueOf(args[1]))));
                    return null;
                case "addHeader": case "addIntHeader": case "addDateHeader":
                    headers.computeIfAbsent(first.toLowerCase(Locale.ROOT), k -> new ArrayList<>()).add(String.valueOf(args[1]));
                    return null;
                case "containsHeader": return headers.containsKey(first.toLowerCase(Locale.ROOT));
                case "getHeader": {
                    List<String> values = headers.get(first.toLowerCase(Locale.ROOT));
                    return values == null ? null : values.get(0);
                }
                case "getHeaders": {
                    List<String> values = headers.get(first.toLowerCase(Locale.ROOT));
                    return values == null ? Collections.emptyList() : values;
                }
                case "getHeaderNames": return headers.keySet();
                case "setContentType": headers.put("content-type", new ArrayList<>(Collections.singletonList(first))); return null;
                case "getContentType": return headers.containsKey("content-type") ? headers.get("content-type").get(0) : null;
                case "setCharacterEncoding": charset = Charset.forName(first); return null;
                case "getCharacterEncoding": return charset.name();
                case "setContentLength": case "setContentLengthLong": case "setBufferSize": case "flushBuffer":
                case "setLocale": case "resetBuffer":
                    return null;
                case "reset": headers.clear(); body.reset(); status = 200; return null;
                case "isCommitted": return false;
                case "getOutputStream": return stream(code, "BodyOutputStream", OutputStream.class, body);
                case "getWriter":
                    if (writer == null) {
                        writer = new PrintWriter(new OutputStreamWriter(body, charset));
                    }
                    return writer;
                case "toString": return "response " + status;
                case "hashCode": return System.identityHashCode(this);
                default:
                    throw new UnsupportedOperationException("HttpServletResponse." + method.getName()
                            + " is not served by fcemu's Java runtime");
            }
        }
    }

    private Servlets() {}
}
