// FC 3.0's HTTP trigger, both ways: the request as the event the handler gets ({version, rawPath, headers,
// queryParameters, body, isBase64Encoded, requestContext}), and what the handler answers, {statusCode,
// headers, body, isBase64Encoded}, as the response (anything else is the body of a 200).
package fcemu.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpExchange;
import java.net.URLDecoder;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.text.SimpleDateFormat;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.Date;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TimeZone;

final class HttpTrigger {
    /** Content types whose bodies the event carries as text; the others are base64. */
    private static final String[] TEXT_TYPES = {"text/", "application/json", "application/xml",
        "application/javascript", "application/x-www-form-urlencoded", "+json", "+xml"};

    static final class Response {
        int status = 200;
        Map<String, List<String>> headers = new LinkedHashMap<>();
        byte[] body = new byte[0];
    }

    static Response call(Functions functions, Call call) throws Throwable {
        if ("2.0".equals(System.getenv("FCEMU_EDITION"))) {
            Functions.Target servlet = functions.servletHandler(call.handler);
            if (servlet != null) {
                return Servlets.call(servlet, call, functions.loader());
            }
        }
        byte[] event = Json.bytes(event(call));
        return response(functions.invoke(call.handler, event, call.context));
    }

    /** A header's name as FC's HTTP trigger writes it: `Content-Type`, `X-Forwarded-For`. */
    static String canonical(String name) {
        StringBuilder out = new StringBuilder(name.length());
        boolean upper = true;
        for (char c : name.toCharArray()) {
            out.append(upper ? Character.toUpperCase(c) : Character.toLowerCase(c));
            upper = c == '-';
        }
        return out.toString();
    }

    /** The query's parameters, repeated names joined by "," as FC's HTTP trigger event has them. */
    static Map<String, String> query(String raw) {
        Map<String, String> params = new LinkedHashMap<>();
        if (raw == null || raw.isEmpty()) {
            return params;
        }
        for (String pair : raw.split("&")) {
            if (pair.isEmpty()) {
                continue;
            }
            String[] kv = pair.split("=", 2);
            String key = decode(kv[0]);
            String value = kv.length > 1 ? decode(kv[1]) : "";
            params.merge(key, value, (a, b) -> a + "," + b);
        }
        return params;
    }

    private static String decode(String text) {
        try {
            return URLDecoder.decode(text, "UTF-8");
        } catch (Exception e) {
            return text;
        }
    }

    /** The request's headers but FC's own (x-fc-*), by their canonical names, repeated ones joined by ", ". */
    static Map<String, String> headers(HttpExchange exchange) {
        Map<String, String> headers = new LinkedHashMap<>();
        for (Map.Entry<String, List<String>> h : exchange.getRequestHeaders().entrySet()) {
            if (h.getKey().toLowerCase(Locale.ROOT).startsWith("x-fc-")) {
                continue;
            }
            headers.put(canonical(h.getKey()), String.join(", ", h.getValue()));
        }
        return headers;
    }

    static Map<String, Object> event(Call call) {
        HttpExchange exchange = call.exchange;
        String path = exchange.getRequestURI().getRawPath();
        String type = exchange.getRequestHeaders().getFirst("content-type");
        boolean text = call.body.length == 0 || type == null || type.isEmpty();
        for (String textType : TEXT_TYPES) {
            text = text || type.contains(textType);
        }
        // Text when the client says so, or says nothing, and it is UTF-8; base64 otherwise.
        String utf8 = text ? utf8(call.body) : null;
        String host = exchange.getRequestHeaders().getFirst("host");
        host = host == null ? "" : host;
        String agent = exchange.getRequestHeaders().getFirst("user-agent");
        long now = System.currentTimeMillis();
        SimpleDateFormat time = new SimpleDateFormat("EEE, dd MMM yyyy HH:mm:ss 'GMT'", Locale.US);
        time.setTimeZone(TimeZone.getTimeZone("UTC"));

        Map<String, Object> http = new LinkedHashMap<>();
        http.put("method", exchange.getRequestMethod());
        http.put("path", path);
        http.put("protocol", "HTTP/1.1");
        http.put("sourceIp", exchange.getRemoteAddress().getAddress().getHostAddress());
        http.put("userAgent", agent == null ? "" : agent);
        Map<String, Object> context = new LinkedHashMap<>();
        context.put("accountId", call.context.accountId);
        context.put("domainName", host);
        context.put("domainPrefix", host.split("\\.", 2)[0]);
        context.put("http", http);
        context.put("requestId", call.context.requestId);
        context.put("time", time.format(new Date(now)));
        context.put("timeEpoch", String.valueOf(now));
        Map<String, Object> event = new LinkedHashMap<>();
        event.put("version", "v1");
        event.put("rawPath", path);
        event.put("headers", headers(exchange));
        event.put("queryParameters", query(exchange.getRequestURI().getRawQuery()));
        event.put("body", utf8 != null ? utf8 : Base64.getEncoder().encodeToString(call.body));
        event.put("isBase64Encoded", utf8 == null);
        event.put("requestContext", context);
        return event;
    }

    /** The bytes as UTF-8 text, or null when they are not. */
    private static String utf8(byte[] bytes) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes))
                    .toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    /** What an FC 3.0 handler answered for an HTTP trigger, as the response. */
    static Response response(byte[] answered) {
        Response response = new Response();
        JsonNode result = null;
        try {
            result = answered.length == 0 ? null : Json.MAPPER.readTree(answered);
        } catch (Exception e) {
            // Not JSON: the body as it is.
        }
        if (result == null || !result.isObject() || !result.has("statusCode")) {
            if (result != null && (result.isObject() || result.isArray())) {
                response.headers.put("content-type", Collections.singletonList("application/json"));
            }
            response.body = answered;
            return response;
        }
        response.status = result.get("statusCode").asInt(200);
        JsonNode body = result.get("body");
        if (body == null || body.isNull()) {
            response.body = new byte[0];
        } else if (result.path("isBase64Encoded").asBoolean(false)) {
            response.body = Base64.getMimeDecoder().decode(body.asText());
        } else {
            response.body = (body.isTextual() ? body.asText() : body.toString()).getBytes(StandardCharsets.UTF_8);
        }
        JsonNode headers = result.get("headers");
        if (headers != null && headers.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = headers.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> h = it.next();
                List<String> values = new ArrayList<>();
                if (h.getValue().isArray()) {
                    h.getValue().forEach(v -> values.add(v.asText()));
                } else {
                    values.add(h.getValue().asText());
                }
                response.headers.put(h.getKey(), values);
            }
        }
        return response;
    }

    private HttpTrigger() {}
}
