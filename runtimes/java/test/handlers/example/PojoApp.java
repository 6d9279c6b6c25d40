package example;

import com.aliyun.fc.runtime.Context;
import com.aliyun.fc.runtime.PojoRequestHandler;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A PojoRequestHandler: the event read into Request, Response written as JSON. */
public class PojoApp implements PojoRequestHandler<PojoApp.Request, PojoApp.Response> {
    public static class Request {
        private String name;
        public List<Integer> numbers;

        public String getName() {
            return name;
        }

        public void setName(String name) {
            this.name = name;
        }
    }

    public static class Response {
        public String greeting;
        public int sum;
        public Map<String, Object> context = new LinkedHashMap<>();
    }

    @Override
    public Response handleRequest(Request input, Context context) {
        Response r = new Response();
        r.greeting = "hello " + input.getName();
        for (int n : input.numbers) {
            r.sum += n;
        }
        r.context.put("requestId", context.getRequestId());
        r.context.put("function", context.getFunctionParam().getFunctionName());
        r.context.put("handler", context.getFunctionParam().getFunctionHandler());
        r.context.put("memory", context.getFunctionParam().getMemoryLimitInMB());
        r.context.put("timeoutMs", context.getFunctionParam().getExecTimeLimitInMillis());
        r.context.put("accessKeyId", context.getExecutionCredentials().getAccessKeyId());
        r.context.put("securityToken", context.getExecutionCredentials().getSecurityToken());
        r.context.put("service", context.getService().getName());
        r.context.put("qualifier", context.getService().getQualifier());
        r.context.put("retryCount", context.getRetryCount());
        // Whose Context interface the runtime's proxy implements: the code's own copy, or fcemu's.
        r.context.put("contextFrom", Context.class.getProtectionDomain().getCodeSource().getLocation().getPath());
        return r;
    }

    /** An HTTP trigger through FC 3.0's event: the event as a map in, {statusCode, headers, body} out. */
    public static class Http implements PojoRequestHandler<Map<String, Object>, Map<String, Object>> {
        @Override
        @SuppressWarnings("unchecked")
        public Map<String, Object> handleRequest(Map<String, Object> event, Context context) {
            Map<String, Object> http = (Map<String, Object>) ((Map<String, Object>) event.get("requestContext")).get("http");
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("statusCode", 201);
            Map<String, Object> headers = new LinkedHashMap<>();
            headers.put("content-type", "text/plain");
            headers.put("x-echo", event.get("queryParameters").toString());
            out.put("headers", headers);
            out.put("body", http.get("method") + " " + event.get("rawPath") + " " + event.get("body")
                    + " base64=" + event.get("isBase64Encoded") + " agent=" + ((Map<String, Object>) event.get("headers")).get("User-Agent"));
            return out;
        }
    }
}
