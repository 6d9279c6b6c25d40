// FC's logger for Java: `2024-05-01T08:00:00.123Z 1-6631f0a0-... [INFO] message`, at INFO and above unless the
// function sets another level.
package fcemu.runtime;

import java.text.SimpleDateFormat;
import java.util.Arrays;
import java.util.Date;
import java.util.List;
import java.util.Locale;
import java.util.TimeZone;

final class Logger {
    private static final List<String> LEVELS = Arrays.asList("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL");
    /** The request id the lines printed now belong to. */
    static volatile String requestId = "";
    private static volatile int level = LEVELS.indexOf("INFO");

    static void setLevel(String name) {
        int at = LEVELS.indexOf(name.toUpperCase(Locale.ROOT));
        if (at >= 0) {
            level = at;
        }
    }

    /** A line from the function's logger: `trace`, `debug`, ... by its method's name. */
    static void log(String method, String message) {
        String name = method.toUpperCase(Locale.ROOT);
        int at = LEVELS.indexOf(name);
        if (at >= level) {
            print(name, message);
        }
    }

    static void print(String levelName, String message) {
        Bootstrap.OUT.println(stamp() + " " + requestId + " [" + levelName + "] " + message);
    }

    /** Now, as FC's lines have it: 2024-05-01T08:00:00.123Z. */
    static String stamp() {
        SimpleDateFormat stamp = new SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'", Locale.ROOT);
        stamp.setTimeZone(TimeZone.getTimeZone("UTC"));
        return stamp.format(new Date());
    }

    private Logger() {}
}
