package dev.vmm.it;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The guest kit's net guest under QEMU (modern virtio-net-pci, mq=on, a multi-queue tap without
 * vhost), so the driver is known to be right independently of our device: same frames, same
 * per-queue echoes as {@link GuestKitNetVmmTest}.
 */
class GuestKitNetQemuTest {
    private NetNamespace ns;
    @TempDir Path dir;

    @BeforeAll
    static void needs() {
        assumeTrue(Qemu.find().isPresent(), Qemu.BINARY + " is not installed");
        GuestNeeds.netNamespace();
        GuestNeeds.guestKit();
    }

    @BeforeEach
    void namespace() throws Exception {
        ns = NetNamespace.create("vmmgq");
    }

    @AfterEach
    void cleanUp() {
        ns.close();
    }

    @Test
    void twoPairsEchoOnTheirOwnQueues() throws Exception {
        int pairs = 2, count = 200;
        String tap = "gqt" + ProcessHandle.current().pid() % 100000;
        // QEMU attaches to an existing tap (and does not bring it up): make it first.
        ns.ip("tuntap", "add", tap, "mode", "tap", "multi_queue", "vnet_hdr");
        ns.ip("link", "set", tap, "up");
        NetPeer.Running peer = NetPeer.start(ns, dir, "echo", tap, "150", Integer.toString(pairs * count));
        Path serial = dir.resolve("serial.txt");
        Qemu.Config c = Qemu.Config.defaults().withCpus(2).withCmdline("pairs=" + pairs + " count=" + count)
                .withTimeout(Duration.ofSeconds(150))
                .withExtraArgs("-netdev", "tap,id=n0,ifname=" + tap + ",script=no,downscript=no,vhost=off,queues=" + pairs,
                        "-device", "virtio-net-pci,netdev=n0,disable-legacy=on,mq=on,vectors=" + (2 * pairs + 2));
        List<String> cmd = new ArrayList<>(Qemu.command(Qemu.find().orElseThrow(),
                GuestKit.get().image("net", GuestKit.Format.MULTIBOOT), c, serial));
        Path err = dir.resolve("qemu.txt");
        Process p = new ProcessBuilder(ns.command(cmd)).redirectErrorStream(true).redirectOutput(err.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        try {
            boolean done = p.waitFor(c.timeout().toSeconds(), TimeUnit.SECONDS);
            String peerOut = peer.finish(10);
            String out = Files.exists(serial) ? Files.readString(serial, StandardCharsets.ISO_8859_1) : "";
            String why = out + "\n--- qemu ---\n" + Files.readString(err) + "\n--- peer ---\n" + peerOut;
            assertThat(done).as(why).isTrue();
            assertThat(out).as(why)
                    .contains("max pairs 2, 2 pairs in use", "net: txq 0: 200 frames sent", "net: txq 1: 200 frames sent",
                            "echoes by queue tag: 0=200 1=0, out of order 0, bad 0",
                            "echoes by queue tag: 0=0 1=200, out of order 0, bad 0",
                            "net: echo ok 2 pairs 200 frames each")
                    .endsWith("EXIT 0\n");
            assertThat(peerOut).contains("peer: queue 0: 200 data frames", "peer: queue 1: 200 data frames");
            assertThat(p.exitValue()).as("isa-debug-exit status for 0").isEqualTo(1);
        } finally {
            p.destroyForcibly();
            peer.kill();
        }
    }
}
