package example;

import com.aliyun.fc.runtime.Context;
import com.aliyun.fc.runtime.HttpRequestHandler;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import javax.servlet.http.HttpServletRequest;
import javax.servlet.http.HttpServletResponse;

/** FC 2.0's HTTP function: reads the request through the Servlet API and writes the response. */
public class ServletApp implements HttpRequestHandler {
    @Override
    public void handleRequest(HttpServletRequest request, HttpServletResponse response, Context context) throws IOException {
        InputStream in = request.getInputStream();
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        for (int b; (b = in.read()) >= 0; ) {
            body.write(b);
        }
        response.setStatus(202);
        response.setHeader("Content-Type", "text/plain");
        response.addHeader("Set-Cookie", "a=1");
        response.addHeader("Set-Cookie", "b=2");
        response.getOutputStream().write((request.getMethod() + " " + request.getAttribute("FC_REQUEST_PATH")
                + " q=" + request.getParameter("q") + " " + new String(body.toByteArray(), StandardCharsets.UTF_8)
                + " rid=" + context.getRequestId()).getBytes(StandardCharsets.UTF_8));
    }
}
