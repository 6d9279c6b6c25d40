package com.aliyun.fc.runtime;

/** The function's own settings. */
public interface FunctionParam {
    String getFunctionName();

    String getFunctionHandler();

    String getFunctionInitializer();

    int getExecTimeLimitInMillis();

    int getMemoryLimitInMB();
}
