package dev.vmm.block.nbd;

import dev.vmm.block.BlockException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.vmm.block.nbd.NbdTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The server is killed with SIGKILL in the middle of a client's write stream and restarted. With a
 * reconnect delay the client's writers never see an error and every acknowledged write is in the
 * image afterwards ({@code qemu-img compare} against a model kept by the writers).
 */
@Timeout(value = 240, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NbdReconnectTest {
    private static final int SIZE = 8 << 20, WRITERS = 4, WRITES = 150;
    @TempDir Path tmp;

    private List<String> serverCommand(String kind, Path image, Path sock) {
        if (kind.equals("qemu-nbd")) return List.of("qemu-nbd", "-t", "-e", "8", "-k", sock.toString(), "-f", "raw", image.toString());
        String java = ProcessHandle.current().info().command().orElse("java");
        return List.of(java, "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                NbdServeMain.class.getName(), image.toString(), sock.toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"qemu-nbd", "vmm"})
    void serverKilledMidWriteStreamLosesNoAcknowledgedWrite(String kind) throws Exception {
        assume("qemu-img");
        if (kind.equals("qemu-nbd")) assume("qemu-nbd");
        Path image = tmp.resolve("disk.raw");
        Files.write(image, new byte[SIZE]);
        Path sock = tmp.resolve("s.sock");
        List<String> cmd = serverCommand(kind, image, sock);
        Process server = startServer(sock, cmd);
        byte[] model = new byte[SIZE];
        AtomicInteger acked = new AtomicInteger();
        NbdUri uri = NbdUri.parse("nbd+unix:///?socket=" + sock + "&reconnect-delay=60");
        try (NbdBlockDevice d = NbdBlockDevice.open(uri, false); ExecutorService ex = Executors.newFixedThreadPool(WRITERS)) {
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < WRITERS; t++) {
                int stripe = t;
                fs.add(ex.submit(() -> {
                    Random r = new Random(stripe);
                    int base = stripe * (SIZE / WRITERS);
                    for (int i = 0; i < WRITES; i++) {
                        int len = 512 + r.nextInt(60000);
                        int off = base + r.nextInt(SIZE / WRITERS - len);
                        byte[] b = new byte[len];
                        r.nextBytes(b);
                        d.write(off, MemorySegment.ofArray(b)); // returns only once acknowledged
                        synchronized (model) { System.arraycopy(b, 0, model, off, len); }
                        acked.incrementAndGet();
                        if (i % 40 == 39) d.flush();
                    }
                    return null;
                }));
            }
            for (int kill = 1; kill <= 2; kill++) {
                int target = kill * WRITERS * WRITES / 3;
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
                while (acked.get() < target) {
                    assertThat(System.nanoTime()).as("writes progress").isLessThan(deadline);
                    Thread.sleep(5); // polling a counter under a deadline
                }
                server.destroyForcibly(); // SIGKILL
                assertThat(server.waitFor(30, TimeUnit.SECONDS)).isTrue();
                assertThat(acked.get()).as("the kill happened mid-stream").isLessThan(WRITERS * WRITES);
                server = startServer(sock, cmd);
            }
            for (Future<?> f : fs) f.get(); // no writer saw an error
            d.flush();
        } finally {
            stop(server);
        }
        assertThat(acked.get()).isEqualTo(WRITERS * WRITES);
        Path modelFile = tmp.resolve("model.raw");
        Files.write(modelFile, model);
        Result cmp = exec(List.of("qemu-img", "compare", "-f", "raw", "-F", "raw", modelFile.toString(), image.toString()));
        assertThat(cmp.exit()).as(cmp.out()).isZero();
        assertThat(cmp.out()).contains("Images are identical");
    }

    @Test
    void withoutReconnectDelayALostServerIsAnErrorNotAHang() throws Exception {
        assume("qemu-nbd");
        Path image = tmp.resolve("d.raw");
        Files.write(image, new byte[1 << 20]);
        Path sock = tmp.resolve("n.sock");
        Process server = startServer(sock, List.of("qemu-nbd", "-t", "-k", sock.toString(), "-f", "raw", image.toString()));
        try {
            NbdBlockDevice d = NbdBlockDevice.open(NbdUri.parse("nbd+unix:///?socket=" + sock), false);
            d.write(0, MemorySegment.ofArray(new byte[] {1}));
            server.destroyForcibly();
            server.waitFor();
            assertThatThrownBy(() -> d.read(0, MemorySegment.ofArray(new byte[4096])))
                    .isInstanceOf(BlockException.class).hasMessageContaining("read failed");
            // Closing flushes: the unflushed write may be lost, and the user is told so.
            assertThatThrownBy(d::close).isInstanceOf(BlockException.class).hasMessageContaining("flush failed");
        } finally {
            stop(server);
        }
    }

    @Test
    void reconnectGivesUpAfterTheDelay() throws Exception {
        assume("qemu-nbd");
        Path image = tmp.resolve("g.raw");
        Files.write(image, new byte[1 << 20]);
        Path sock = tmp.resolve("g.sock");
        Process server = startServer(sock, List.of("qemu-nbd", "-t", "-k", sock.toString(), "-f", "raw", image.toString()));
        try (NbdBlockDevice d = NbdBlockDevice.open(NbdUri.parse("nbd+unix:///?socket=" + sock + "&reconnect-delay=1"), false)) {
            server.destroyForcibly();
            server.waitFor();
            long t0 = System.nanoTime();
            assertThatThrownBy(() -> d.read(0, MemorySegment.ofArray(new byte[4096])))
                    .isInstanceOf(BlockException.class).hasMessageContaining("not back within 1 s");
            assertThat(System.nanoTime() - t0).isLessThan(TimeUnit.SECONDS.toNanos(20));
        } catch (BlockException closing) {
            // close() flushes, which fails the same way: the server is gone for good
            assertThat(closing).hasMessageContaining("not back within 1 s");
        } finally {
            stop(server);
        }
    }
}
