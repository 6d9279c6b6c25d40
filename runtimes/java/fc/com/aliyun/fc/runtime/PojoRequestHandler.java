package com.aliyun.fc.runtime;

/** A handler whose event and result are objects, read from and written as JSON. */
public interface PojoRequestHandler<I, O> {
    O handleRequest(I input, Context context);
}
