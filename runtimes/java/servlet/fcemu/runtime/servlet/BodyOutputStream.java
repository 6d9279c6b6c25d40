// The response body as the ServletOutputStream FC 2.0's HTTP handlers write; see BodyInputStream.
package fcemu.runtime.servlet;

import java.io.IOException;
import java.io.OutputStream;
import javax.servlet.ServletOutputStream;
import javax.servlet.WriteListener;

public final class BodyOutputStream extends ServletOutputStream {
    private final OutputStream body;

    public BodyOutputStream(OutputStream body) {
        this.body = body;
    }

    @Override
    public void write(int b) throws IOException {
        body.write(b);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
        body.write(b, off, len);
    }

    @Override
    public boolean isReady() {
        return true;
    }

    @Override
    public void setWriteListener(WriteListener listener) {
        throw new IllegalStateException("the body is sent when the handler returns: write it");
    }
}
