package com.aliyun.fc.runtime;

import java.io.IOException;

/** FC 2.0's PreFreeze hook: before the instance is frozen. */
public interface PreFreezeHandler {
    void preFreeze(Context context) throws IOException;
}
