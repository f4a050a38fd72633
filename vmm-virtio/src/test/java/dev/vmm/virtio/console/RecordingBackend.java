package dev.vmm.virtio.console;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/** A backend that records guest output and lets the test push input through its handle. */
final class RecordingBackend implements PortBackend {
    final ByteArrayOutputStream output = new ByteArrayOutputStream();
    final List<Boolean> guestOpenEvents = new ArrayList<>();
    volatile PortHandle handle;
    volatile int acceptLimit = Integer.MAX_VALUE;   // bytes accepted before returning short
    final boolean connectOnAttach;
    boolean closed;

    RecordingBackend(boolean connectOnAttach) {
        this.connectOnAttach = connectOnAttach;
    }

    @Override
    public void attach(PortHandle port) {
        handle = port;
        if (connectOnAttach) port.setHostConnected(true);
    }

    @Override
    public synchronized int write(ByteBuffer data) {
        int n = Math.min(data.remaining(), acceptLimit);
        byte[] b = new byte[n];
        data.get(b);
        output.writeBytes(b);
        acceptLimit -= n;
        return n;
    }

    synchronized String text() { return output.toString(java.nio.charset.StandardCharsets.UTF_8); }

    @Override public void guestConnected(boolean open) { guestOpenEvents.add(open); }

    @Override public void close() { closed = true; }
}
