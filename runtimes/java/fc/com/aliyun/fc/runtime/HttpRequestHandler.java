package com.aliyun.fc.runtime;

import java.io.IOException;
import javax.servlet.ServletException;
import javax.servlet.http.HttpServletRequest;
import javax.servlet.http.HttpServletResponse;

/** FC 2.0's HTTP function: the request and the response as the Servlet API has them. */
public interface HttpRequestHandler {
    void handleRequest(HttpServletRequest request, HttpServletResponse response, Context context)
            throws IOException, ServletException;
}
