package dev.vmm.lifecycle;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** A QMP peer over a pair of streams (QEMU's -qmp stdio, or a client of our socket): commands and events. */
public final class QmpLines {
    static final ObjectMapper JSON = new ObjectMapper();
    private final OutputStream out;
    private final BlockingQueue<JsonNode> replies = new LinkedBlockingQueue<>();
    private final BlockingQueue<JsonNode> events = new LinkedBlockingQueue<>();

    public QmpLines(InputStream in, OutputStream out) throws IOException {
        this.out = out;
        BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
        JsonNode greeting = JSON.readTree(r.readLine());
        if (!greeting.has("QMP")) throw new IOException("not a QMP greeting: " + greeting);
        Thread t = new Thread(() -> {
            try {
                String l;
                while ((l = r.readLine()) != null) {
                    JsonNode n = JSON.readTree(l);
                    (n.has("event") ? events : replies).add(n);
                }
            } catch (IOException ignored) {
                // peer gone
            }
        }, "qmp-reader");
        t.setDaemon(true);
        t.start();
        try {
            execute("qmp_capabilities");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted");
        }
    }

    public JsonNode execute(String command) throws IOException, InterruptedException {
        return send("{\"execute\":\"" + command + "\"}");
    }

    /** Sends one request (a JSON object) and returns its reply. */
    public JsonNode send(String request) throws IOException, InterruptedException {
        out.write((request + "\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
        JsonNode r = replies.poll(20, TimeUnit.SECONDS);
        if (r == null) throw new IOException("no reply to " + request);
        return r;
    }

    /** The next event, whatever its name, within 20 s. */
    public JsonNode nextEvent() throws InterruptedException, IOException {
        JsonNode e = events.poll(20, TimeUnit.SECONDS);
        if (e == null) throw new IOException("no event within 20 s");
        return e;
    }

    /** The next event named {@code name} within 20 s (others before it are dropped). */
    public JsonNode event(String name) throws InterruptedException, IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (true) {
            JsonNode e = events.poll(deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
            if (e == null) throw new IOException("no " + name + " event");
            if (e.path("event").asText().equals(name)) return e;
        }
    }
}
