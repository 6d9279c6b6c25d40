package com.aliyun.fc.runtime;

/** FC's logger: each line carries the time, the request id and the level. */
public interface FunctionComputeLogger {
    void trace(String string);

    void debug(String string);

    void info(String string);

    void warn(String string);

    void error(String string);

    void fatal(String string);

    void setLogLevel(Level level);

    enum Level {
        TRACE, DEBUG, INFO, WARN, ERROR, FATAL
    }
}
