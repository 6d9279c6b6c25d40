package com.aliyun.fc.runtime;

import java.io.IOException;

/** The Initializer hook: once per instance, before its first request. */
public interface FunctionInitializer {
    void initialize(Context context) throws IOException;
}
