package dev.vmm.it;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The host side of the guest kit's net guest: {@code integration/net-peer/netpeer.c}, built once
 * with gcc into {@code integration/target/net-peer/}, run inside a {@link NetNamespace} on an
 * AF_PACKET socket bound to the VM's tap (see the C file for its modes and output).
 */
public final class NetPeer {
    private static Path binary;

    private NetPeer() {
    }

    /** Builds (when missing or older than its source) and returns the netpeer binary. */
    public static synchronized Path binary() throws IOException {
        if (binary != null) return binary;
        Path src = source();
        Path out = src.getParent().getParent().resolve("target").resolve("net-peer").resolve("netpeer");
        if (!Files.isExecutable(out) || Files.getLastModifiedTime(out).compareTo(Files.getLastModifiedTime(src)) < 0) {
            Files.createDirectories(out.getParent());
            String log = NetNamespace.run(List.of("gcc", "-O2", "-Wall", "-o", out.toString(), src.toString()));
            if (!Files.isExecutable(out)) throw new IOException("gcc made no " + out + ": " + log);
        }
        binary = out;
        return out;
    }

    private static Path source() throws IOException {
        Path cwd = Path.of("").toAbsolutePath();
        for (Path c : List.of(cwd.resolve("net-peer/netpeer.c"), cwd.resolve("integration/net-peer/netpeer.c"))) {
            if (Files.isRegularFile(c)) return c;
        }
        throw new IOException("integration/net-peer/netpeer.c not found from " + cwd);
    }

    /** A running peer; its output goes to a file read by {@link #finish}. */
    public record Running(Process process, Path output) {
        /** Waits for the peer to end (it stops by itself) and returns its output. */
        public String finish(long timeoutSeconds) throws IOException, InterruptedException {
            if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            return Files.readString(output, StandardCharsets.UTF_8);
        }

        public void kill() {
            process.destroyForcibly();
        }
    }

    /** Starts {@code netpeer args...} inside ns, output to dir/peer.txt. */
    public static Running start(NetNamespace ns, Path dir, String... args) throws IOException {
        Path out = dir.resolve("peer-" + System.nanoTime() + ".txt");
        List<String> cmd = new java.util.ArrayList<>(List.of(binary().toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(ns.command(cmd)).redirectErrorStream(true).redirectOutput(out.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        return new Running(p, out);
    }
}
