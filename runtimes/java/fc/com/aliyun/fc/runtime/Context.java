package com.aliyun.fc.runtime;

/** What FC tells a function about the call it is in (fc-java-core's Context, from FC's documented API). */
public interface Context {
    String getRequestId();

    Credentials getExecutionCredentials();

    FunctionParam getFunctionParam();

    Service getService();

    FunctionComputeLogger getLogger();

    OpenTracing getTracing();

    int getRetryCount();
}
