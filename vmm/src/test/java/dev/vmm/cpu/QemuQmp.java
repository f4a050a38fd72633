package dev.vmm.cpu;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Writer;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** The installed {@code qemu-system-x86_64} driven over QMP on its stdio (the oracle of the CPU model tests). */
final class QemuQmp implements AutoCloseable {
    static final String BINARY = "qemu-system-x86_64";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Process process;
    private final BufferedReader in;
    private final Writer out;

    static Optional<Path> find() {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
            Path p = Path.of(dir, BINARY);
            if (Files.isExecutable(p)) return Optional.of(p);
        }
        return Optional.empty();
    }

    /** Starts QEMU with {@code args} plus {@code -qmp stdio} and negotiates capabilities. */
    QemuQmp(String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(find().orElseThrow().toString()));
        cmd.addAll(List.of(args));
        cmd.addAll(List.of("-display", "none", "-qmp", "stdio"));
        process = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        in = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        out = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
        JsonNode greeting = JSON.readTree(readLine());
        if (!greeting.has("QMP")) throw new IOException("not a QMP greeting: " + greeting);
        execute("qmp_capabilities", null);
    }

    private String readLine() throws IOException {
        String l = in.readLine();
        if (l == null) throw new IOException("QEMU closed its QMP stream (exit " + exitStatus() + ")");
        return l;
    }

    private String exitStatus() {
        return process.isAlive() ? "still running" : String.valueOf(process.exitValue());
    }

    /** Runs a command; returns its "return" value, throws with QEMU's error description. */
    JsonNode execute(String command, Object arguments) throws IOException {
        var req = JSON.createObjectNode().put("execute", command);
        if (arguments != null) req.set("arguments", JSON.valueToTree(arguments));
        out.write(req + "\n");
        out.flush();
        while (true) {
            JsonNode r = JSON.readTree(readLine());
            if (r.has("event")) continue;
            if (r.has("error")) throw new IOException(command + ": " + r.get("error").path("desc").asText());
            return r.get("return");
        }
    }

    @Override
    public void close() throws IOException {
        try {
            execute("quit", null);
        } catch (IOException ignored) {
            // already gone
        }
        process.destroy();
        try {
            process.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
