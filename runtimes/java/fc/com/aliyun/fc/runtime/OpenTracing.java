package com.aliyun.fc.runtime;

import java.util.Map;

/** The call's tracing context, when FC traces it. */
public interface OpenTracing {
    String getSpanContext();

    Map<String, String> getSpanBaggages();

    String getJaegerEndpoint();
}
