package dev.vmm.usb.hid;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Writer;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A QMP client on the unix socket of a QEMU started with {@link #args}: enough to inject input
 * ({@code input-send-event}) into QEMU's own HID devices, whose reports a {@link QemuUhciHost}
 * then reads. Asynchronous events are skipped; a command's "error" answer fails the test.
 */
final class QemuQmpSocket implements AutoCloseable {
    private final SocketChannel channel;
    private final BufferedReader in;
    private final Writer out;

    /**
     * The QEMU arguments that open the socket at {@code path} (QEMU creates it before it answers
     * qtest), and take the i8042 (PS/2 keyboard and mouse) and vmport (an absolute pointer) off the
     * machine: QEMU would give them the events (it merges this -machine with the host's).
     */
    static String[] args(Path path) {
        return new String[] {"-qmp", "unix:" + path + ",server=on,wait=off", "-machine", "i8042=off,vmport=off"};
    }

    QemuQmpSocket(Path path) throws IOException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!Files.exists(path)) {
            if (System.nanoTime() - deadline > 0) throw new IOException("no QMP socket at " + path);
            Thread.onSpinWait();
        }
        channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        channel.connect(UnixDomainSocketAddress.of(path));
        in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
        out = Channels.newWriter(channel, StandardCharsets.UTF_8);
        String greeting = in.readLine();
        if (greeting == null || !greeting.contains("\"QMP\"")) throw new IOException("QMP greeting: " + greeting);
        execute("{\"execute\":\"qmp_capabilities\"}");
    }

    /** Sends one command and returns its "return" line. */
    String execute(String json) throws IOException {
        out.write(json + "\n");
        out.flush();
        for (String line; (line = in.readLine()) != null; ) {
            if (line.contains("\"return\"")) return line;
            if (line.contains("\"error\"")) throw new IOException("QMP " + json + ": " + line);
        }
        throw new IOException("QMP connection closed after " + json);
    }

    /**
     * One input-send-event with these events (each a QAPI InputEvent in JSON), to QEMU's active
     * handler of each kind: start QEMU without the PC's PS/2 devices and vmport ({@link #args}), so
     * that is the USB device.
     */
    void send(String... events) throws IOException {
        execute("{\"execute\":\"input-send-event\",\"arguments\":{\"events\":[" + String.join(",", events) + "]}}");
    }

    static String key(String type, String value, boolean down) {
        String data = type.equals("qcode") ? "\"" + value + "\"" : value;
        return "{\"type\":\"key\",\"data\":{\"down\":" + down + ",\"key\":{\"type\":\"" + type + "\",\"data\":" + data + "}}}";
    }

    static String btn(String button, boolean down) {
        return "{\"type\":\"btn\",\"data\":{\"down\":" + down + ",\"button\":\"" + button + "\"}}";
    }

    static String move(String kind, String axis, long value) {
        return "{\"type\":\"" + kind + "\",\"data\":{\"axis\":\"" + axis + "\",\"value\":" + value + "}}";
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
