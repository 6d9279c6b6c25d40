// FC's body for an error in the function: {errorMessage, errorType, stackTrace}, the stack the function's own
// frames (this runtime's and the reflection's that called it left out), with the causes after it.
package fcemu.runtime;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

final class Errors {
    static Map<String, Object> body(Throwable e) {
        Map<String, Object> body = new LinkedHashMap<>();
        if (e instanceof Functions.HandlerError) {
            body.put("errorMessage", e.getMessage());
            body.put("errorType", "HandlerError");
            body.put("stackTrace", new ArrayList<String>());
            return body;
        }
        body.put("errorMessage", e.getMessage() == null ? e.toString() : e.getMessage());
        body.put("errorType", e.getClass().getName());
        List<String> stack = new ArrayList<>();
        frames(e, stack);
        for (Throwable cause = e.getCause(); cause != null && cause != e; cause = cause.getCause()) {
            stack.add("Caused by: " + cause);
            frames(cause, stack);
            if (cause.getCause() == cause) {
                break;
            }
        }
        body.put("stackTrace", stack);
        return body;
    }

    /** The frames down to where the runtime called the function. */
    private static void frames(Throwable e, List<String> into) {
        for (StackTraceElement frame : e.getStackTrace()) {
            String type = frame.getClassName();
            if (type.startsWith("fcemu.runtime.") || type.startsWith("jdk.internal.reflect.")
                    || type.startsWith("sun.reflect.") || type.equals("java.lang.reflect.Method")) {
                break;
            }
            into.add(frame.toString());
        }
    }

    static String lines(List<?> stack) {
        StringBuilder text = new StringBuilder();
        for (Object line : stack) {
            String frame = String.valueOf(line);
            text.append(frame.startsWith("Caused by: ") ? "\n" : "\n    at ").append(frame);
        }
        return text.toString();
    }

    private Errors() {}
}
