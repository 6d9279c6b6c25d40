package example;

import com.aliyun.fc.runtime.Context;
import com.aliyun.fc.runtime.FunctionInitializer;
import com.aliyun.fc.runtime.PreStopHandler;
import com.aliyun.fc.runtime.StreamRequestHandler;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;

/** A StreamRequestHandler with both hooks: echoes the event, fails or exits when it asks. */
public class StreamApp implements StreamRequestHandler, FunctionInitializer, PreStopHandler {
    private int initialized;
    private static final AtomicInteger ACTIVE = new AtomicInteger();
    private static final AtomicInteger MOST = new AtomicInteger();

    @Override
    public void initialize(Context context) {
        initialized++;
        context.getLogger().info("initialized " + initialized);
    }

    @Override
    public void handleRequest(InputStream input, OutputStream output, Context context) throws IOException {
        ByteArrayOutputStream read = new ByteArrayOutputStream();
        byte[] buffer = new byte[4096];
        for (int n; (n = input.read(buffer)) > 0; ) {
            read.write(buffer, 0, n);
        }
        String event = new String(read.toByteArray(), StandardCharsets.UTF_8);
        if (event.contains("\"fail\"")) {
            throw new IllegalStateException("the event asked to fail", new IOException("the cause"));
        }
        if (event.contains("\"slow\"")) {
            MOST.accumulateAndGet(ACTIVE.incrementAndGet(), Math::max);
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                throw new IOException(e);
            }
            ACTIVE.decrementAndGet();
            output.write(("at most " + MOST.get() + " at once").getBytes(StandardCharsets.UTF_8));
            return;
        }
        if (event.contains("\"exit\"")) {
            System.exit(3);
        }
        System.out.println("printed by the handler");
        context.getLogger().debug("not shown at INFO");
        context.getLogger().warn("handling " + context.getRequestId());
        output.write(("initialized=" + initialized + " event=" + event).getBytes(StandardCharsets.UTF_8));
    }

    @Override
    public void preStop(Context context) {
        context.getLogger().info("pre-stop of " + context.getFunctionParam().getFunctionName());
    }

    /** A hook that fails. */
    public void failingHook(Context context) {
        throw new RuntimeException("the hook failed");
    }
}
