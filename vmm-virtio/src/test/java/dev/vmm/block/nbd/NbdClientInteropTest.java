package dev.vmm.block.nbd;

import dev.vmm.block.BlockException;
import dev.vmm.block.Extent;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.vmm.block.nbd.NbdTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Our client ({@link NbdBlockDevice}) against real servers: qemu-nbd and nbdkit (memory and file
 * plugins, error and delay filters). Data must equal the file behind the server (or what qemu-img
 * reads from it), block status must equal qemu-img map over the same server, injected errors must
 * arrive as errors naming the server's errno, never a hang.
 */
@Timeout(value = 180, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NbdClientInteropTest {
    @TempDir Path tmp;
    private final List<Process> servers = new ArrayList<>();

    @AfterEach
    void stopServers() throws InterruptedException {
        for (Process p : servers) stop(p);
    }

    private String serve(String name, String export, String... cmd) throws Exception {
        Path sock = tmp.resolve(name + ".sock");
        List<String> c = new ArrayList<>();
        for (String s : cmd) c.add(s.replace("SOCK", sock.toString()));
        servers.add(startServer(sock, c));
        return "nbd+unix:///" + export + "?socket=" + sock;
    }

    private static byte[] sparseRandom(int size, long seed) {
        byte[] b = new byte[size];
        Random r = new Random(seed);
        for (int off = 0; off < size; off += 65536) {
            if (r.nextBoolean()) {
                byte[] chunk = new byte[65536];
                r.nextBytes(chunk);
                System.arraycopy(chunk, 0, b, off, Math.min(65536, size - off));
            }
        }
        return b;
    }

    private static byte[] readAll(NbdBlockDevice d) {
        byte[] all = new byte[(int) d.size()];
        d.read(0, MemorySegment.ofArray(all));
        return all;
    }

    @Test
    void qemuNbdRawReadWriteConcurrentlyAndFlush() throws Exception {
        assume("qemu-nbd", "qemu-img");
        Path file = tmp.resolve("disk.raw");
        byte[] model = sparseRandom(8 << 20, 1);
        Files.write(file, model);
        String uri = serve("qn", "exp", "qemu-nbd", "-t", "-e", "4", "-k", "SOCK", "-f", "raw", "-x", "exp", "--discard=unmap", file.toString());
        try (NbdBlockDevice d = NbdBlockDevice.open(NbdUri.parse(uri), false)) {
            assertThat(d.size()).isEqualTo(model.length);
            assertThat(readAll(d)).isEqualTo(model);
            // 8 threads, 400 writes of random sizes at random places, all on one pipelined connection;
            // each thread owns a disjoint stripe so the model is exact.
            try (ExecutorService ex = Executors.newFixedThreadPool(8)) {
                List<Future<?>> fs = new ArrayList<>();
                for (int t = 0; t < 8; t++) {
                    int stripe = t;
                    fs.add(ex.submit(() -> {
                        Random r = new Random(100 + stripe);
                        int base = stripe * (1 << 20);
                        for (int i = 0; i < 50; i++) {
                            int len = 1 + r.nextInt(70000);
                            int off = base + r.nextInt((1 << 20) - len);
                            byte[] b = new byte[len];
                            r.nextBytes(b);
                            d.write(off, MemorySegment.ofArray(b));
                            synchronized (model) { System.arraycopy(b, 0, model, off, len); }
                        }
                    }));
                }
                for (Future<?> f : fs) f.get();
            }
            d.writeZeroes(5 << 20, 300000, false);
            Arrays.fill(model, 5 << 20, (5 << 20) + 300000, (byte) 0);
            d.flush();
            assertThat(readAll(d)).isEqualTo(model);
        }
        assertThat(Files.readAllBytes(file)).isEqualTo(model);
    }

    @Test
    void qemuNbdQcow2ReadsAsQemuImgReadsTheFile() throws Exception {
        assume("qemu-nbd", "qemu-img", "qemu-io");
        Path img = tmp.resolve("d.qcow2");
        run("qemu-img", "create", "-f", "qcow2", img.toString(), "6M");
        run("qemu-io", "-f", "qcow2", "-c", "write -P 0x21 0 100k", "-c", "write -P 0x42 3M 1M", "-c", "write -z 3500k 20k", img.toString());
        Path ref = tmp.resolve("ref.raw");
        run("qemu-img", "convert", "-f", "qcow2", "-O", "raw", img.toString(), ref.toString());
        String uri = serve("qq", "", "qemu-nbd", "-t", "-e", "4", "-r", "-k", "SOCK", "-f", "qcow2", img.toString());
        try (NbdBlockDevice d = NbdBlockDevice.open(NbdUri.parse(uri), true)) {
            assertThat(readAll(d)).isEqualTo(Files.readAllBytes(ref));
            assertThat(mapOf(d)).isEqualTo(qemuMap(uri));
            assertThatThrownBy(() -> d.write(0, MemorySegment.ofArray(new byte[1]))).isInstanceOf(BlockException.class);
        }
    }

    /** Merged extents as "start+length:data/zero" strings. */
    private static List<String> mapOf(NbdBlockDevice d) {
        List<String> out = new ArrayList<>();
        long start = 0, len = 0;
        boolean data = false, zero = false;
        for (long off = 0; off < d.size(); ) {
            Extent e = d.status(off, d.size() - off);
            if (len > 0 && e.data() == data && e.zero() == zero) {
                len += e.length();
            } else {
                if (len > 0) out.add(start + "+" + len + ":" + data + "/" + zero);
                start = off;
                len = e.length();
                data = e.data();
                zero = e.zero();
            }
            off += e.length();
        }
        if (len > 0) out.add(start + "+" + len + ":" + data + "/" + zero);
        return out;
    }

    private static List<String> qemuMap(String uri) {
        String json = run("qemu-img", "map", "--output=json", "-f", "raw", uri);
        Matcher m = Pattern.compile("\"start\": (\\d+), \"length\": (\\d+), [^}]*\"zero\": (true|false), \"data\": (true|false)").matcher(json);
        List<String> out = new ArrayList<>();
        long start = 0, len = 0;
        String data = null, zero = null;
        while (m.find()) {
            if (len > 0 && m.group(4).equals(data) && m.group(3).equals(zero)) {
                len += Long.parseLong(m.group(2));
                continue;
            }
            if (len > 0) out.add(start + "+" + len + ":" + data + "/" + zero);
            start = Long.parseLong(m.group(1));
            len = Long.parseLong(m.group(2));
            data = m.group(4);
            zero = m.group(3);
        }
        if (len > 0) out.add(start + "+" + len + ":" + data + "/" + zero);
        return out;
    }

    @Test
    void nbdkitMemoryWriteTrimZeroAndStatus() throws Exception {
        assume("nbdkit", "qemu-img");
        String uri = serve("mem", "", "nbdkit", "-f", "-U", "SOCK", "memory", "4M");
        try (NbdBlockDevice d = NbdBlockDevice.open(NbdUri.parse(uri), false)) {
            byte[] model = new byte[4 << 20];
            byte[] b = new byte[200000];
            new Random(7).nextBytes(b);
            d.write(123457, MemorySegment.ofArray(b));
            System.arraycopy(b, 0, model, 123457, b.length);
            d.writeZeroes(150000, 5000, true);
            Arrays.fill(model, 150000, 155000, (byte) 0);
            d.discard(1 << 20, 1 << 20); // nothing there: stays zero
            d.flush();
            assertThat(readAll(d)).isEqualTo(model);
            assertThat(mapOf(d)).isEqualTo(qemuMap(uri));
            assertThat(mapOf(d).getFirst()).endsWith(":false/true"); // the untouched start is a hole
        }
    }

    @Test
    void nbdkitFilePluginReadsTheFile() throws Exception {
        assume("nbdkit");
        Path file = tmp.resolve("f.raw");
        byte[] data = sparseRandom(3 << 20, 3);
        Files.write(file, data);
        String uri = serve("file", "", "nbdkit", "-f", "-r", "-U", "SOCK", "file", "file=" + file);
        try (NbdBlockDevice d = NbdBlockDevice.open(NbdUri.parse(uri), true)) {
            assertThat(readAll(d)).isEqualTo(data);
        }
    }

    @Test
    void nbdkitInjectedErrorsBecomeErrorsWithTheServersErrno() throws Exception {
        assume("nbdkit");
        String uri = serve("err", "", "nbdkit", "-f", "-U", "SOCK", "--filter=error", "memory", "1M",
                "error-pread=EIO", "error-pread-rate=1", "error-pwrite=ENOSPC", "error-pwrite-rate=1");
        try (NbdBlockDevice d = NbdBlockDevice.open(NbdUri.parse(uri), false)) {
            assertThatThrownBy(() -> d.read(0, MemorySegment.ofArray(new byte[8192])))
                    .isInstanceOfSatisfying(NbdErrorException.class, e -> assertThat(e.errno()).isEqualTo(NbdErrno.EIO))
                    .hasMessageContaining("EIO").hasMessageContaining("read at 0");
            assertThatThrownBy(() -> d.write(4096, MemorySegment.ofArray(new byte[100])))
                    .isInstanceOfSatisfying(NbdErrorException.class, e -> assertThat(e.errno()).isEqualTo(NbdErrno.ENOSPC))
                    .hasMessageContaining("ENOSPC");
            // The connection survives errors: other requests still work.
            d.writeZeroes(0, 4096, false);
            d.flush();
        }
    }

    @Test
    void nbdkitDelayedRepliesArePipelined() throws Exception {
        assume("nbdkit");
        String uri = serve("delay", "", "nbdkit", "-f", "-U", "SOCK", "--filter=delay", "memory", "16M", "delay-read=300ms");
        try (NbdBlockDevice d = NbdBlockDevice.open(NbdUri.parse(uri), false);
             ExecutorService ex = Executors.newFixedThreadPool(16)) {
            for (int i = 0; i < 16; i++) d.write(i * 65536L, MemorySegment.ofArray(new byte[] {(byte) (i + 1)}));
            long t0 = System.nanoTime();
            List<Future<Byte>> fs = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                long off = i * 65536L;
                fs.add(ex.submit(() -> {
                    byte[] b = new byte[4096];
                    d.read(off, MemorySegment.ofArray(b));
                    return b[0];
                }));
            }
            for (int i = 0; i < 16; i++) assertThat(fs.get(i).get()).isEqualTo((byte) (i + 1));
            long ms = (System.nanoTime() - t0) / 1_000_000;
            // One connection, 16 reads of 300 ms each: in flight together they take far less than 16 x 300 ms.
            assertThat(ms).isLessThan(16 * 300 / 2);
        }
    }

    @Test
    void refusedExportAndMissingServerAreClearErrors() throws Exception {
        assume("qemu-nbd");
        Path file = tmp.resolve("x.raw");
        Files.write(file, new byte[65536]);
        String uri = serve("ref", "good", "qemu-nbd", "-t", "-e", "4", "-k", "SOCK", "-f", "raw", "-x", "good", file.toString());
        assertThatThrownBy(() -> NbdBlockDevice.open(NbdUri.parse(uri.replace("/good?", "/bad?")), true))
                .isInstanceOf(BlockException.class).hasMessageContaining("unknown export");
        assertThatThrownBy(() -> NbdBlockDevice.open(NbdUri.parse("nbd+unix:///x?socket=" + tmp.resolve("none.sock")), true))
                .isInstanceOf(BlockException.class).hasMessageContaining("cannot connect");
    }
}
