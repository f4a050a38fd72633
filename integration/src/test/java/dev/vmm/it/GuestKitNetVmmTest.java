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
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * virtio-net through the real binary, driven by the guest kit's polled virtio-net driver
 * (guests/net.c, rt/virtio_net.c) against netpeer on the tap's host side, all inside a private
 * network namespace: the VMM creates the (multi-queue) tap there, the guest negotiates MQ, sets
 * the pairs through the control queue, sends tagged frames from every vCPU on its own transmitq,
 * and gets the peer's echoes back — on the receiveq of the same number, because tun steers a
 * flow back to the queue it came from.
 */
class GuestKitNetVmmTest {
    private NetNamespace ns;
    @TempDir Path dir;

    @BeforeAll
    static void needs() {
        GuestNeeds.kvm();
        GuestNeeds.netNamespace();
        GuestNeeds.guestKit();
    }

    @BeforeEach
    void namespace() throws Exception {
        ns = NetNamespace.create("vmmgk");
    }

    @AfterEach
    void cleanUp() {
        ns.close();
    }

    /** The guest's serial output and the VMM's status, run inside the namespace. */
    record Run(int status, String output, String peer) {}

    static Run run(NetNamespace ns, Path dir, GuestKit.Format format, int cpus, int pairs, int count)
            throws Exception {
        String tap = "gkt" + ProcessHandle.current().pid() % 100000;
        NetPeer.Running peer = NetPeer.start(ns, dir, "echo", tap, "150", Integer.toString(pairs * count));
        List<String> cmd = new ArrayList<>(List.of(Vmm.binary().toString(), "run", "--kernel",
                GuestKit.get().image("net", format).toString(), "--cpus", Integer.toString(cpus), "--memory", "128M",
                "--cmdline", "pairs=" + pairs + " count=" + count, "--net", "tap=" + tap + ",queues=" + pairs));
        Path out = dir.resolve("vmm.txt");
        Process p = new ProcessBuilder(ns.command(cmd)).redirectErrorStream(true).redirectOutput(out.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        try {
            if (!p.waitFor(180, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
            String peerOut = peer.finish(10);
            String o = Files.readString(out, StandardCharsets.UTF_8);
            return new Run(p.isAlive() ? -1 : p.exitValue(), o, peerOut);
        } finally {
            p.destroyForcibly();
            peer.kill();
        }
    }

    @Test
    void onePairEchoesEveryFrame() throws Exception {
        Run r = run(ns, dir, GuestKit.Format.PVH, 1, 1, 100);
        assertThat(r.output()).as("%s\n--- peer ---\n%s", r.output(), r.peer())
                .containsPattern("net: mac 52:54:00(:[0-9a-f]{2}){3} mtu 1500 link up, max pairs 1, 1 pairs in use")
                .contains("net: peer answered", "net: txq 0: 100 frames sent",
                        "echoes by queue tag: 0=100, out of order 0, bad 0", "net: echo ok 1 pairs 100 frames each");
        assertThat(r.peer()).contains("peer: queue 0: 100 data frames", "peer: 100 data frames, 100 echoed");
        assertThat(r.status()).isZero();
    }

    @Test
    void everyVcpuSendsOnItsOwnQueueAndReceivesOnIt() throws Exception {
        Run r = run(ns, dir, GuestKit.Format.MULTIBOOT, 2, 2, 300);
        String why = r.output() + "\n--- peer ---\n" + r.peer();
        assertThat(r.output()).as(why)
                .contains("max pairs 2, 2 pairs in use", "net: peer answered",
                        "net: txq 0: 300 frames sent", "net: txq 1: 300 frames sent",
                        // the echoes of queue i come back on receiveq i: tun's flow steering, through
                        // our device's per-pair tap queues
                        "echoes by queue tag: 0=300 1=0, out of order 0, bad 0",
                        "echoes by queue tag: 0=0 1=300, out of order 0, bad 0",
                        "net: echo ok 2 pairs 300 frames each");
        assertThat(r.peer()).contains("peer: queue 0: 300 data frames", "peer: queue 1: 300 data frames",
                "peer: 600 data frames, 600 echoed");
        assertThat(r.status()).isZero();
    }

    /**
     * Snapshot and restore of a machine whose guest is echoing: the net guest paces its frames
     * (2 ms apart) so the save lands mid-run; the tap is a persistent one made beforehand, so
     * netpeer stays bound to it while no VMM holds it. The restored guest continues on the
     * restored device (its MAC, its ring positions, the receive buffers the old device had
     * popped given back) and finishes the echo; the frames in flight at the switch-over (in
     * the old tap's queue, or sent by the peer while no VMM was attached) are lost, as on a
     * wire: the guest tolerates a few (max_lost) and the rest must all come back in order.
     */
    @Test
    void echoingGuestIsSnapshottedAndRestored() throws Exception {
        String tap = "gks" + ProcessHandle.current().pid() % 100000;
        ns.ip("tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr");
        ns.ip("link", "set", tap, "up");
        int count = 3000;
        NetPeer.Running peer = NetPeer.start(ns, dir, "echo", tap, "300", Integer.toString(count));
        Path sock = dir.resolve("q.sock"), snap = dir.resolve("net.snap");
        Path first = dir.resolve("first.txt"), restored = dir.resolve("restored.txt");
        List<String> cmd = new ArrayList<>(List.of(Vmm.binary().toString(), "run", "--kernel",
                GuestKit.get().image("net", GuestKit.Format.PVH).toString(), "--memory", "128M",
                "--cmdline", "pairs=1 count=" + count + " gap_us=2000 max_lost=32 timeout_ms=600000",
                "--net", "tap=" + tap, "--qmp", "unix:" + sock));
        Process p = new ProcessBuilder(ns.command(cmd)).redirectErrorStream(true).redirectOutput(first.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        Process r = null;
        try {
            for (int i = 0; i < 2400 && !Files.readString(first).contains("net: peer answered"); i++) Thread.sleep(50);
            assertThat(Files.readString(first)).contains("net: peer answered");
            Thread.sleep(1500); // a quarter of the way through the echo
            try (QmpTest.Client c = new QmpTest.Client(sock)) {
                c.read();
                c.execute("qmp_capabilities");
                com.fasterxml.jackson.databind.JsonNode res = c.execute("x-vmm-snapshot-save", "{\"file\":\"" + snap + "\"}");
                assertThat(res.has("return")).as(res.toString()).isTrue();
                c.execute("quit");
            }
            assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(Files.readString(first)).as("saved mid-echo").doesNotContain("net: echo ok").doesNotContain("FAIL");

            r = new ProcessBuilder(ns.command(List.of(Vmm.binary().toString(), "snapshot", "restore", snap.toString(),
                    "--net", "tap=" + tap))).redirectErrorStream(true).redirectOutput(restored.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
            assertThat(r.waitFor(180, TimeUnit.SECONDS)).as(Files.readString(restored)).isTrue();
            String peerOut = peer.finish(30);
            String out = Files.readString(restored, StandardCharsets.UTF_8);
            String why = "--- first ---\n" + Files.readString(first) + "\n--- restored ---\n" + out + "\n--- peer ---\n" + peerOut;
            assertThat(out).as(why).contains("net: txq 0: " + count + " frames sent", "out of order 0, bad 0",
                    "net: echo ok 1 pairs " + count + " frames each").containsPattern("net: txq 0: \\d+ echoes lost \\(32 allowed\\)");
            assertThat(r.exitValue()).as(why).isZero();
            assertThat(peerOut).as(why).contains("peer: " + count + " data frames");
            System.out.println(why); // for the record: how many frames the switch-over cost
        } finally {
            p.destroyForcibly();
            if (r != null) r.destroyForcibly();
            peer.kill();
        }
    }

    /** The binary with {@code args} inside the namespace, output to {@code out}. */
    private Process vmmInNamespace(Path out, List<String> args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Vmm.binary().toString()));
        cmd.addAll(args);
        return new ProcessBuilder(ns.command(cmd)).redirectErrorStream(true).redirectOutput(out.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
    }

    /**
     * Live migration of the echoing guest to a destination on the same host: both VMMs attach
     * queues to one persistent multi-queue tap (tun lets several processes do that), the
     * destination's device takes over the tap queues when it starts. Frames in flight at the
     * switch-over may be lost (max_lost); the rest come back in order, on the destination.
     */
    @Test
    void echoingGuestIsMigrated() throws Exception {
        String tap = "gkm" + ProcessHandle.current().pid() % 100000;
        ns.ip("tuntap", "add", "dev", tap, "mode", "tap", "multi_queue", "vnet_hdr");
        ns.ip("link", "set", tap, "up");
        int count = 3000;
        NetPeer.Running peer = NetPeer.start(ns, dir, "echo", tap, "300", Integer.toString(count));
        Path sock = dir.resolve("src.qmp"), mig = dir.resolve("mig.sock");
        Path src = dir.resolve("src.txt"), dst = dir.resolve("dst.txt");
        String net = "tap=" + tap + ",queues=2";
        Process d = vmmInNamespace(dst, List.of("run", "--incoming", "unix:" + mig, "--memory", "128M", "--net", net));
        Process s = null;
        try {
            for (int i = 0; i < 600 && !Files.exists(mig); i++) Thread.sleep(50);
            s = vmmInNamespace(src, List.of("run", "--kernel", GuestKit.get().image("net", GuestKit.Format.PVH).toString(),
                    "--memory", "128M", "--cmdline", "pairs=1 count=" + count + " gap_us=2000 max_lost=32 timeout_ms=600000",
                    "--net", net, "--qmp", "unix:" + sock));
            for (int i = 0; i < 2400 && !Files.readString(src).contains("net: peer answered"); i++) Thread.sleep(50);
            assertThat(Files.readString(src)).contains("net: peer answered");
            Thread.sleep(1000);
            try (QmpTest.Client c = new QmpTest.Client(sock)) {
                c.read();
                c.execute("qmp_capabilities");
                com.fasterxml.jackson.databind.JsonNode st = c.migrateToCompletion("unix:" + mig, () -> Files.readString(dst));
                c.execute("quit");
            }
            assertThat(s.waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(d.waitFor(180, TimeUnit.SECONDS)).as(Files.readString(dst)).isTrue();
            String peerOut = peer.finish(30);
            String out = Files.readString(dst, StandardCharsets.UTF_8);
            String why = "--- source ---\n" + Files.readString(src) + "\n--- destination ---\n" + out + "\n--- peer ---\n" + peerOut;
            assertThat(Files.readString(src)).as(why).doesNotContain("net: echo ok");
            assertThat(out).as(why).contains("incoming migration complete", "net: txq 0: " + count + " frames sent",
                    "out of order 0, bad 0", "net: echo ok 1 pairs " + count + " frames each");
            assertThat(d.exitValue()).as(why).isZero();
            assertThat(peerOut).as(why).contains("peer: " + count + " data frames");
            System.out.println(why);
        } finally {
            if (s != null) s.destroyForcibly();
            d.destroyForcibly();
            peer.kill();
        }
    }
}
