// The request body as the ServletInputStream FC 2.0's HTTP handlers read. Compiled against the Servlet API
// and loaded beside the function's code, so that it extends the function's own copy of the class.
package fcemu.runtime.servlet;

import java.io.ByteArrayInputStream;
import javax.servlet.ReadListener;
import javax.servlet.ServletInputStream;

public final class BodyInputStream extends ServletInputStream {
    private final ByteArrayInputStream body;

    public BodyInputStream(byte[] body) {
        this.body = new ByteArrayInputStream(body);
    }

    @Override
    public int read() {
        return body.read();
    }

    @Override
    public int read(byte[] b, int off, int len) {
        return body.read(b, off, len);
    }

    @Override
    public boolean isFinished() {
        return body.available() == 0;
    }

    @Override
    public boolean isReady() {
        return true;
    }

    @Override
    public void setReadListener(ReadListener listener) {
        throw new IllegalStateException("the whole body is there: read it");
    }
}
