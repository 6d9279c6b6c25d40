// FC's Context for a call, given to the function as the `com.aliyun.fc.runtime.Context` its own code sees: a
// dynamic proxy of that interface, so the runtime works with whichever copy of fc-java-core the code carries
// (or fcemu's, when it declared fc-java-core `provided`).
package fcemu.runtime;

import com.sun.net.httpserver.Headers;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.Collections;
import java.util.HashMap;
import java.util.Map;

final class ContextValues {
    final String requestId;
    final String accountId;
    /** What each interface's getters answer, by interface and getter name. */
    private final Map<String, Map<String, Object>> values = new HashMap<>();

    ContextValues(Headers headers) {
        requestId = header(headers, "x-fc-request-id", "");
        Map<String, Object> context = new HashMap<>();
        context.put("getRequestId", requestId);
        context.put("getRetryCount", integer(header(headers, "x-fc-retry-count", "0")));
        values.put("Context", context);
        Map<String, Object> credentials = new HashMap<>();
        credentials.put("getAccessKeyId", header(headers, "x-fc-access-key-id", ""));
        credentials.put("getAccessKeySecret", header(headers, "x-fc-access-key-secret", ""));
        credentials.put("getSecurityToken", header(headers, "x-fc-security-token", ""));
        values.put("Credentials", credentials);
        Map<String, Object> function = new HashMap<>();
        function.put("getFunctionName", header(headers, "x-fc-function-name", Bootstrap.env("FC_FUNCTION_NAME", "")));
        function.put("getFunctionHandler",
                header(headers, "x-fc-function-handler", Bootstrap.env("FC_FUNCTION_HANDLER", "")));
        function.put("getFunctionInitializer",
                header(headers, "x-fc-function-initializer", Bootstrap.env("FCEMU_INITIALIZER", "")));
        function.put("getExecTimeLimitInMillis", integer(header(headers, "x-fc-function-timeout", "0")) * 1000);
        function.put("getMemoryLimitInMB", integer(header(headers, "x-fc-function-memory",
                Bootstrap.env("FC_FUNCTION_MEMORY_SIZE", "0"))));
        values.put("FunctionParam", function);
        Map<String, Object> service = new HashMap<>();
        service.put("getName", Bootstrap.env("FCEMU_SERVICE_NAME", ""));
        service.put("getLogProject", "");
        service.put("getLogStore", "");
        service.put("getQualifier", header(headers, "x-fc-qualifier", "LATEST"));
        service.put("getVersionId", header(headers, "x-fc-version-id", "LATEST"));
        values.put("Service", service);
        Map<String, Object> tracing = new HashMap<>();
        tracing.put("getSpanContext", "");
        tracing.put("getSpanBaggages", Collections.emptyMap());
        tracing.put("getJaegerEndpoint", "");
        values.put("OpenTracing", tracing);
        accountId = header(headers, "x-fc-account-id", Bootstrap.env("FC_ACCOUNT_ID", ""));
    }

    private static String header(Headers headers, String name, String fallback) {
        String value = headers.getFirst(name);
        return value == null || value.isEmpty() ? fallback : value;
    }

    private static int integer(String text) {
        try {
            return Integer.parseInt(text.trim());
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /** The Context as the code's class loader knows the interface. */
    Object proxy(ClassLoader code) throws ClassNotFoundException {
        return proxyOf(code.loadClass("com.aliyun.fc.runtime.Context"));
    }

    private Object proxyOf(Class<?> type) {
        InvocationHandler handler = (self, method, args) -> answer(self, method, args);
        return Proxy.newProxyInstance(type.getClassLoader(), new Class<?>[] {type}, handler);
    }

    private Object answer(Object self, Method method, Object[] args) {
        String name = method.getName();
        switch (name) {
            case "toString": return "FC context of request " + requestId;
            case "hashCode": return System.identityHashCode(self);
            case "equals": return self == args[0];
            default: break;
        }
        Class<?> type = method.getDeclaringClass();
        if (type.getSimpleName().equals("FunctionComputeLogger")) {
            if (name.equals("setLogLevel")) {
                Logger.setLevel(String.valueOf(args[0]));
            } else {
                Logger.log(name, args == null || args.length == 0 ? "" : String.valueOf(args[0]));
            }
            return null;
        }
        Class<?> returned = method.getReturnType();
        if (returned.isInterface() && returned.getName().startsWith("com.aliyun.fc.runtime.")) {
            // getExecutionCredentials, getFunctionParam, getService, getLogger, getTracing.
            return proxyOf(returned);
        }
        Map<String, Object> of = values.get(type.getSimpleName());
        Object value = of == null ? null : of.get(name);
        if (value == null && returned.isPrimitive()) {
            // A method a newer fc-java-core has that fcemu does not know: a zero, not a crash.
            return returned == boolean.class ? (Object) false : returned == long.class ? (Object) 0L : (Object) 0;
        }
        return value;
    }
}
