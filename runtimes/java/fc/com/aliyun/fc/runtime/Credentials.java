package com.aliyun.fc.runtime;

/** The temporary credentials of the function's role. */
public interface Credentials {
    String getAccessKeyId();

    String getAccessKeySecret();

    String getSecurityToken();
}
