package dev.vmm.block.nbd;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/** Starting our server in process, and peers (qemu-nbd, nbdkit, qemu-img, qemu-io) as processes. */
final class NbdTestSupport {
    private NbdTestSupport() {}

    static boolean onPath(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/usr/sbin").split(":")) {
            if (Files.isExecutable(Path.of(dir, tool))) return true;
        }
        return false;
    }

    static void assume(String... tools) {
        for (String t : tools) {
            Assumptions.assumeTrue(onPath(t), t + " not installed (apt-get install " + (t.startsWith("nbdkit") ? "nbdkit" : "qemu-utils") + "): test skipped");
        }
    }

    /** Our server on a UNIX socket, persistent, in a background thread; closed by the caller. */
    static final class Served implements AutoCloseable {
        final NbdServer server;
        final Path socket;
        final Thread thread;
        final List<String> log = new CopyOnWriteArrayList<>();

        Served(NbdExport export, Path socket, int shared) throws IOException {
            this(export, UnixDomainSocketAddress.of(socket), null, shared);
        }

        /** On a UNIX socket or TCP address (port 0: a free one), with TLS required when {@code tls} is set. */
        Served(NbdExport export, java.net.SocketAddress address, dev.vmm.block.nbd.tls.X509Credentials tls, int shared) throws IOException {
            this.socket = address instanceof UnixDomainSocketAddress u ? u.getPath() : null;
            this.server = new NbdServer(address, export, tls, shared, true, log::add);
            this.thread = Thread.ofPlatform().daemon().name("test-nbd-server").start(() -> {
                try {
                    server.serve();
                } catch (IOException e) {
                    log.add("serve failed: " + e);
                }
            });
        }

        String uri(String export) { return "nbd+unix:///" + export + "?socket=" + socket; }

        int port() { return ((java.net.InetSocketAddress) server.address()).getPort(); }

        @Override
        public void close() throws InterruptedException {
            server.close();
            thread.join(10_000);
        }
    }

    record Result(int exit, String out) {}

    static Result exec(List<String> cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            p.getOutputStream().close();
            // Output is drained on its own thread so that the deadline holds even if the tool hangs.
            java.util.concurrent.CompletableFuture<String> out = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                } catch (IOException e) {
                    return e.toString();
                }
            }, r -> Thread.ofPlatform().daemon().start(r));
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("timed out after 60 s: " + cmd);
            }
            return new Result(p.exitValue(), out.get(10, TimeUnit.SECONDS));
        } catch (IOException | InterruptedException | java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new AssertionError("cannot run " + cmd + ": " + e, e);
        }
    }

    static String run(String... cmd) {
        Result r = exec(List.of(cmd));
        if (r.exit() != 0) throw new AssertionError(String.join(" ", cmd) + " failed (" + r.exit() + "): " + r.out());
        return r.out();
    }

    /** Starts a server process and waits (with a deadline) until its UNIX socket accepts. */
    static Process startServer(Path socket, List<String> cmd) throws Exception {
        Files.deleteIfExists(socket);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(socket.resolveSibling(socket.getFileName() + ".log").toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            if (!p.isAlive()) {
                throw new AssertionError(cmd + " exited " + p.exitValue() + ": "
                        + Files.readString(socket.resolveSibling(socket.getFileName() + ".log")));
            }
            if (Files.exists(socket)) {
                try (var ch = java.nio.channels.SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
                    return p;
                } catch (IOException notYet) {
                    // listening soon
                }
            }
            Thread.onSpinWait();
            Thread.sleep(20); // polling a condition with a deadline, not ordering by sleep
        }
        p.destroyForcibly();
        throw new AssertionError("server did not start listening: " + cmd);
    }

    static void stop(Process p) throws InterruptedException {
        if (p == null) return;
        p.destroy();
        if (!p.waitFor(10, TimeUnit.SECONDS)) p.destroyForcibly().waitFor();
    }
}
