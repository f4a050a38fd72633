package dev.vmm.it;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue #17 test 5 (guest part): a virtio-blk disk whose image is served over NBD by {@code vmm nbd}
 * (over a UNIX socket and over TCP), verified by the guest kit's blk guest, which writes a pattern
 * across the disk, flushes and reads it back. Afterwards the served file holds the guest's data.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class NbdGuestTest {
    private static final Duration T = Duration.ofSeconds(240);

    @BeforeAll
    static void needsKvm() {
        GuestNeeds.kvmAndGuestKit();
    }

    /** Serves {@code image} with {@code vmm nbd} until closed; waits until the server accepts. */
    private static Process serve(List<String> where, Path image, Path ready) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of(Vmm.binary().toString(), "nbd", "--persistent", "-f", "raw",
                "--pid-file", ready.toString()));
        cmd.addAll(where);
        cmd.add(image.toString());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ready.resolveSibling("nbd.log").toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!(Files.exists(ready) && Files.size(ready) > 0)) {
            assertThat(p.isAlive()).as("vmm nbd exited: %s", Files.exists(ready.resolveSibling("nbd.log"))
                    ? Files.readString(ready.resolveSibling("nbd.log")) : "").isTrue();
            assertThat(System.nanoTime()).as("vmm nbd did not write its pid file in 30 s").isLessThan(deadline);
            Thread.sleep(20);
        }
        return p;
    }

    private static void verifyThrough(Path dir, List<String> where, String uri) throws Exception {
        Path image = dir.resolve("served.img");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(16 << 20);
        }
        Process server = serve(where, image, dir.resolve("nbd.pid"));
        try {
            Vmm.Result r = Vmm.run(T, List.of("run", "--kernel", GuestKit.get().image("blk", GuestKit.Format.PVH).toString(),
                    "--cmdline", "mode=verify", "--disk", "path=" + uri));
            assertThat(r.status()).as(r.describe()).isZero();
            assertThat(r.stdout()).contains("blk: verify ok 16 MiB");
        } finally {
            server.destroy();
            server.waitFor(30, TimeUnit.SECONDS);
        }
        // What the guest wrote went through the server into the file: not all zeroes any more.
        byte[] data = Files.readAllBytes(image);
        boolean written = false;
        for (byte b : data) {
            if (b != 0) {
                written = true;
                break;
            }
        }
        assertThat(written).as("the served image holds the guest's pattern").isTrue();
    }

    @Test
    void guestVerifiesADiskServedOverAUnixSocket(@TempDir Path dir) throws Exception {
        Path socket = dir.resolve("nbd.sock");
        verifyThrough(dir, List.of("--socket", socket.toString()), "nbd+unix:///?socket=" + socket);
    }

    @Test
    void guestVerifiesADiskServedOverTcp(@TempDir Path dir) throws Exception {
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort();
        }
        verifyThrough(dir, List.of("--bind", "127.0.0.1", "--port", String.valueOf(port)), "nbd://127.0.0.1:" + port + "/");
    }
}
