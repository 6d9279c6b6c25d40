package com.aliyun.fc.runtime;

/** The service (FC 2.0) the function belongs to. */
public interface Service {
    String getName();

    String getLogProject();

    String getLogStore();

    String getQualifier();

    String getVersionId();
}
