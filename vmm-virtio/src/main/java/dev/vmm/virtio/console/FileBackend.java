package dev.vmm.virtio.console;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * A port whose guest output is appended to a file (a log); it never has input. Counts as host
 * connected, so the guest sees the port open.
 */
public final class FileBackend implements PortBackend {
    private static final Logger LOG = Logger.getLogger(FileBackend.class.getName());

    private final Path path;
    private final FileChannel channel;

    /** Opens (creating if needed) {@code path} for appending. */
    public FileBackend(Path path) throws IOException {
        this.path = path;
        this.channel = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
    }

    public Path path() { return path; }

    @Override
    public void attach(PortHandle port) {
        port.setHostConnected(true);
    }

    @Override
    public int write(ByteBuffer data) {
        int total = data.remaining();
        try {
            while (data.hasRemaining()) channel.write(data);
        } catch (IOException e) {
            LOG.log(Level.WARNING, "writing port output to " + path + " failed; dropping", e);
            data.position(data.limit());
        }
        return total;
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            LOG.log(Level.FINE, "closing " + path, e);
        }
    }
}
