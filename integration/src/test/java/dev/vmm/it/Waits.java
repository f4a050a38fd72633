package dev.vmm.it;

import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** Deadline-bounded waiting and the small process set-ups the migration tests share. */
final class Waits {
    private Waits() {}

    interface Condition {
        boolean holds() throws Exception;
    }

    /** Polls {@code c} until it holds; fails naming {@code what} after {@code seconds}. */
    static void waitFor(Condition c, int seconds, String what) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!c.holds()) {
            assertThat(System.nanoTime()).as("waiting %d s for: %s", seconds, what).isLessThan(deadline);
            Thread.sleep(50);
        }
    }

    static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /**
     * A paused incoming-migration destination ({@code NAME.txt} its output, {@code NAME.qmp} its QMP
     * socket in {@code dir}), returned once it listens.
     */
    static Process incoming(Path dir, String name, int port, String... extra) throws Exception {
        Path out = dir.resolve(name + ".txt");
        List<String> cmd = new ArrayList<>(List.of(Vmm.binary().toString(), "run", "--incoming", "tcp:127.0.0.1:" + port,
                "--memory", "128M", "-S", "--qmp", "unix:" + dir.resolve(name + ".qmp")));
        cmd.addAll(List.of(extra));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start();
        waitFor(() -> Files.readString(out).contains("waiting for an incoming"), 30, name + " listens");
        return p;
    }
}
