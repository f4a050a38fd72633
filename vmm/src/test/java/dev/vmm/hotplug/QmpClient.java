package dev.vmm.hotplug;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A QMP client that keeps the events it reads past. */
final class QmpClient implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    private final SocketChannel ch;
    private final BufferedReader in;
    private final OutputStream out;
    final List<JsonNode> events = new ArrayList<>();
    private final java.util.Set<JsonNode> taken = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());

    QmpClient(Path socket) throws IOException {
        ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(socket));
        in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8));
        out = Channels.newOutputStream(ch);
        in.readLine(); // greeting
        if (!execute("qmp_capabilities", null).has("return")) throw new IOException("qmp_capabilities refused");
    }

    JsonNode execute(String command, String arguments) throws IOException {
        String line = "{\"execute\": \"" + command + "\"" + (arguments == null ? "" : ", \"arguments\": " + arguments) + "}\n";
        out.write(line.getBytes(StandardCharsets.UTF_8));
        out.flush();
        while (true) {
            JsonNode r = next();
            if (r.has("return") || r.has("error")) return r;
        }
    }

    /** The next event named {@code name} not returned before, read until it arrives (the caller's @Timeout bounds the wait). */
    JsonNode awaitEvent(String name) throws IOException {
        for (JsonNode e : events) {
            if (e.path("event").asText().equals(name) && !taken.contains(e)) {
                taken.add(e);
                return e;
            }
        }
        while (true) {
            JsonNode r = next();
            if (r.path("event").asText().equals(name)) {
                taken.add(r);
                return r;
            }
        }
    }

    private JsonNode next() throws IOException {
        String reply = in.readLine();
        if (reply == null) throw new IOException("QMP peer closed");
        JsonNode r = JSON.readTree(reply);
        if (r.has("event")) events.add(r);
        return r;
    }

    @Override
    public void close() throws IOException {
        ch.close();
    }
}
