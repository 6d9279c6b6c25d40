package com.aliyun.fc.runtime;

import java.io.IOException;

/** The PreStop hook: before the instance is destroyed. */
public interface PreStopHandler {
    void preStop(Context context) throws IOException;
}
