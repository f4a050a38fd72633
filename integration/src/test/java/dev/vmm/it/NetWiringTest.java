package dev.vmm.it;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code --net tap=...} through the real binary: the VMM creates a multiqueue tap with one queue
 * per vCPU (vnet headers on), removes it when it ends, and a missing bridge is one line. The data
 * path itself is tested against a real tap in vmm-virtio (VirtioNetTapTest).
 */
class NetWiringTest {
    @BeforeAll
    static void needsKvmAndTun() {
        GuestNeeds.kvm();
        assumeTrue(Files.isWritable(Path.of("/dev/net/tun")), "/dev/net/tun is not usable (needs root)");
    }

    private static String tapName() {
        return "vmmit" + (ProcessHandle.current().pid() % 100000);
    }

    @Test
    void createsAMultiqueueTapAndRemovesIt(@TempDir Path dir) throws Exception {
        String tap = tapName();
        Path sock = dir.resolve("qmp.sock");
        Path kernel = GuestKit.get().image("exits", GuestKit.Format.PVH);
        Process p = new ProcessBuilder(List.of(Vmm.binary().toString(), "run", "--kernel", kernel.toString(),
                "--cmdline", "count=100000000", "--cpus", "2", "--net", "tap=" + tap, "--qmp", "unix:" + sock,
                "--serial", "none")).redirectErrorStream(true).redirectOutput(dir.resolve("out.txt").toFile()).start();
        try {
            for (int i = 0; i < 600 && !Files.exists(sock); i++) Thread.sleep(50);
            Path sys = Path.of("/sys/class/net", tap);
            assertThat(sys).as(Files.readString(dir.resolve("out.txt"))).exists();
            Process ip = new ProcessBuilder("ip", "-d", "link", "show", tap).redirectErrorStream(true).start();
            String link = new String(ip.getInputStream().readAllBytes());
            ip.waitFor();
            assertThat(link).contains("tap", "vnet_hdr on", "multi_queue", "numqueues 2", "UP");
            try (QmpTest.Client c = new QmpTest.Client(sock)) {
                c.read();
                c.execute("qmp_capabilities");
                c.execute("quit");
            }
            assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(sys).doesNotExist();
        } finally {
            p.destroyForcibly();
        }
    }

    @Test
    void missingBridgeIsOneLine() throws Exception {
        Vmm.Result r = Vmm.run(Duration.ofSeconds(60), "run", "--net", "tap=" + tapName() + "b,bridge=nosuchbr0");
        assertThat(r.status()).as(r.describe()).isEqualTo(2);
        assertThat(r.stderr().strip().lines()).hasSize(1);
        assertThat(r.stderr()).startsWith("vmm: --net: ").contains("nosuchbr0");
        assertThat(Path.of("/sys/class/net", tapName() + "b")).doesNotExist();
    }
}
