package dev.vmm.virtio.net;

import dev.vmm.virtio.testing.SplitRingDriver;
import dev.vmm.virtio.VirtioFeatures;
import dev.vmm.virtio.net.tap.Tap;
import dev.vmm.virtio.net.tap.TapException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.vmm.virtio.net.VirtioNet.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * virtio-net against a real multi-queue tap. The tap is created in the test's network namespace,
 * then moved into a private namespace ({@code ip netns add}) that holds the only address used
 * (10.77.0.1/24): the "guest" (a driver writing rings in fake guest RAM) ARPs and pings that
 * host stack and checks the replies in its receive buffers. Nothing touches the host's own
 * networks. Needs root and /dev/net/tun; skipped otherwise.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class VirtioNetTapTest {
    static final String NS = "vmmnet" + ProcessHandle.current().pid();
    static final byte[] HOST_IP = Frames.ip("10.77.0.1");
    static final byte[] GUEST_IP = Frames.ip("10.77.0.2");
    static final MacAddress GUEST_MAC = MacAddress.parse("52:54:00:aa:bb:01");
    static final AtomicInteger SEQ = new AtomicInteger();
    static final List<String> BRIDGES = new ArrayList<>();
    static final long DRIVER = VirtioFeatures.VIRTIO_F_VERSION_1 | VirtioFeatures.VIRTIO_F_EVENT_IDX
            | VIRTIO_NET_F_MAC | VIRTIO_NET_F_MTU | VIRTIO_NET_F_STATUS | VIRTIO_NET_F_MRG_RXBUF | VIRTIO_NET_F_CTRL_VQ
            | VIRTIO_NET_F_CTRL_RX | VIRTIO_NET_F_MQ | VIRTIO_NET_F_CTRL_MAC_ADDR | VIRTIO_NET_F_CSUM
            | VIRTIO_NET_F_GUEST_CSUM | VIRTIO_NET_F_CTRL_GUEST_OFFLOADS;

    @BeforeAll
    static void needsTunAndNetns() throws Exception {
        try {
            Tap.open(tapName(), 1).close();
        } catch (TapException e) {
            assumeTrue(false, "tap devices unusable here: " + e.getMessage());
        }
        assumeTrue(run("ip", "netns", "add", NS) == 0, "cannot create a network namespace (needs root and iproute2)");
        run("ip", "netns", "exec", NS, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1");
        run("ip", "-n", NS, "link", "set", "lo", "up");
    }

    @AfterAll
    static void cleanUp() throws Exception {
        for (String br : BRIDGES) run("ip", "link", "del", br);
        run("ip", "netns", "del", NS);
    }

    static String tapName() {
        return "vmt" + (ProcessHandle.current().pid() % 100000) + "x" + SEQ.incrementAndGet();
    }

    static int run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        if (!p.waitFor(20, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return -1;
        }
        return p.exitValue();
    }

    /** Moves the tap into the namespace with the host address and brings it up. */
    static void intoNamespace(Tap tap) throws Exception {
        assertThat(run("ip", "link", "set", tap.name(), "netns", NS)).isZero();
        assertThat(run("ip", "-n", NS, "addr", "add", "10.77.0.1/24", "dev", tap.name())).isZero();
        assertThat(run("ip", "-n", NS, "link", "set", tap.name(), "up")).isZero();
    }

    /** ARP for the host address from {@code pair}; returns the host's MAC from the reply. */
    static MacAddress arp(NetHarness h, int pair, MacAddress from) throws Exception {
        for (int attempt = 0; attempt < 3; attempt++) {
            h.send(pair, Frames.arpRequest(from, GUEST_IP, HOST_IP));
            NetHarness.Received r = h.receive(3000, 2048, f -> Frames.arpReplyFrom(f, HOST_IP) != null);
            if (r != null) {
                assertThat(MacAddress.of(r.frame(), 0)).isEqualTo(from);
                return Frames.arpReplyFrom(r.frame(), HOST_IP);
            }
        }
        throw new AssertionError("no ARP reply; log: " + h.log + " stats: " + h.dev.statsSummary("t"));
    }

    static NetHarness.Received ping(NetHarness h, int pair, MacAddress hostMac, MacAddress from, int seq, byte[] payload, int bufSize)
            throws Exception {
        h.send(pair, Frames.icmpEcho(hostMac, from, GUEST_IP, HOST_IP, 0x77, seq, payload));
        return h.receive(5000, bufSize, f -> Frames.isEchoReply(f, from, 0x77, seq, payload));
    }

    static byte[] le16(int v) {
        return ByteBuffer.allocate(2).order(ByteOrder.LITTLE_ENDIAN).putShort((short) v).array();
    }

    @Test
    void pingsTheNamespaceFromEveryQueuePairAndSwitchesPairsWithTheControlQueue() throws Exception {
        try (Tap tap = Tap.open(tapName(), 2);
             NetHarness h = new NetHarness(tap, GUEST_MAC, DRIVER, 2)) {
            assertThat(h.features & VIRTIO_NET_F_MQ).isNotZero();
            assertThat(h.dev.readConfig(8, 2)).isEqualTo(2); // max_virtqueue_pairs
            assertThat(h.dev.readConfig(6, 2)).isEqualTo(S_LINK_UP);
            assertThat(h.dev.readConfig(0, 4) | h.dev.readConfig(4, 2) << 32).isEqualTo(Long.reverseBytes(GUEST_MAC.value() << 16));
            intoNamespace(tap);
            h.activate();
            h.postRx(0, 32, 2048);
            h.postRx(1, 32, 2048);

            MacAddress hostMac = arp(h, 0, GUEST_MAC);
            byte[] payload = "from pair 0".getBytes(StandardCharsets.US_ASCII);
            NetHarness.Received r = ping(h, 0, hostMac, GUEST_MAC, 1, payload, 2048);
            assertThat(r).as("echo reply to pair 0's ping; log %s", h.log).isNotNull();
            assertThat(r.numBuffers()).isEqualTo(1);
            assertThat(r.header()[1]).as("gso_type").isEqualTo((byte) GSO_NONE);
            assertThat(r.header()[0] & ~HDR_F_DATA_VALID).as("flags").isZero();

            // Only pair 0 is active until VQ_PAIRS_SET: pair 1's tap queue is detached, its frames are dropped.
            h.send(1, Frames.icmpEcho(hostMac, GUEST_MAC, GUEST_IP, HOST_IP, 0x77, 2, payload));
            waitFor(() -> h.dev.stats(1).txDropped() == 1);
            assertThat(h.dev.stats(1).txPackets()).isZero();

            assertThat(h.ctrl(NetControl.CLASS_MQ, NetControl.MQ_VQ_PAIRS_SET, le16(2))).isEqualTo(NetControl.OK);
            byte[] p1 = "from pair 1".getBytes(StandardCharsets.US_ASCII);
            r = ping(h, 1, hostMac, GUEST_MAC, 3, p1, 2048);
            assertThat(r).as("echo reply to pair 1's ping; log %s", h.log).isNotNull();
            // The counter goes up after writev returns; the namespace's reply can be read before that.
            waitFor(() -> h.dev.stats(1).txPackets() >= 1);
            assertThat(h.dev.stats(1).txPackets()).isEqualTo(1);

            // Out-of-range pair counts and wrong lengths are refused.
            assertThat(h.ctrl(NetControl.CLASS_MQ, NetControl.MQ_VQ_PAIRS_SET, le16(3))).isEqualTo(NetControl.ERR);
            assertThat(h.ctrl(NetControl.CLASS_MQ, NetControl.MQ_VQ_PAIRS_SET, le16(0))).isEqualTo(NetControl.ERR);
            assertThat(h.ctrl(NetControl.CLASS_MQ, NetControl.MQ_VQ_PAIRS_SET, new byte[] {1})).isEqualTo(NetControl.ERR);
            assertThat(h.ctrl(9, 0, new byte[0])).isEqualTo(NetControl.ERR);

            // Back to one pair: pair 1 drops again, pair 0 still works.
            assertThat(h.ctrl(NetControl.CLASS_MQ, NetControl.MQ_VQ_PAIRS_SET, le16(1))).isEqualTo(NetControl.OK);
            long dropped = h.dev.stats(1).txDropped();
            h.send(1, Frames.icmpEcho(hostMac, GUEST_MAC, GUEST_IP, HOST_IP, 0x77, 4, p1));
            waitFor(() -> h.dev.stats(1).txDropped() == dropped + 1);
            assertThat(ping(h, 0, hostMac, GUEST_MAC, 5, payload, 2048)).isNotNull();
            assertThat(h.irq.needsReset).isEmpty();
            assertThat(h.irq.used.get(0)).isPositive(); // receive interrupts on receiveq0
        }
    }

    @Test
    void mergeableReceiveSpreadsALargeFrameOverSmallBuffers() throws Exception {
        try (Tap tap = Tap.open(tapName(), 1);
             NetHarness h = new NetHarness(tap, GUEST_MAC, DRIVER, 1)) {
            intoNamespace(tap);
            h.activate();
            h.postRx(0, 40, 256); // 10 KiB: enough for one MTU-sized frame (1530 bytes with header)
            MacAddress hostMac = arp(h, 0, GUEST_MAC);
            byte[] payload = new byte[1400];
            for (int i = 0; i < payload.length; i++) payload[i] = (byte) (i * 7);
            NetHarness.Received r = ping(h, 0, hostMac, GUEST_MAC, 9, payload, 256);
            assertThat(r).as("log %s", h.log).isNotNull();
            // 12 + 14 + 20 + 8 + 1400 = 1454 bytes in 256-byte buffers: 6 chains.
            assertThat(r.numBuffers()).isEqualTo(6);
            assertThat(r.frame()).hasSize(1442);
        }
    }

    @Test
    void withoutMergeableBuffersEachFrameTakesOneChainWithNumBuffersOne() throws Exception {
        try (Tap tap = Tap.open(tapName(), 1);
             NetHarness h = new NetHarness(tap, GUEST_MAC, DRIVER & ~VIRTIO_NET_F_MRG_RXBUF, 1)) {
            intoNamespace(tap);
            h.activate();
            h.postRx(0, 8, 1600);
            MacAddress hostMac = arp(h, 0, GUEST_MAC);
            NetHarness.Received r = ping(h, 0, hostMac, GUEST_MAC, 11, new byte[1000], 1600);
            assertThat(r).isNotNull();
            assertThat(r.numBuffers()).isEqualTo(1);
        }
    }

    @Test
    void macAddressSetAndReceiveFilter() throws Exception {
        try (Tap tap = Tap.open(tapName(), 1);
             NetHarness h = new NetHarness(tap, GUEST_MAC, DRIVER, 1)) {
            intoNamespace(tap);
            h.activate();
            h.postRx(0, 32, 2048);
            MacAddress newMac = MacAddress.parse("52:54:00:aa:bb:42");
            assertThat(h.ctrl(NetControl.CLASS_MAC, NetControl.MAC_ADDR_SET, newMac.bytes())).isEqualTo(NetControl.OK);
            assertThat(h.dev.mac()).isEqualTo(newMac);
            assertThat(h.dev.readConfig(5, 1)).isEqualTo(0x42);
            assertThat(h.ctrl(NetControl.CLASS_MAC, NetControl.MAC_ADDR_SET, new byte[5])).isEqualTo(NetControl.ERR);
            assertThat(h.ctrl(NetControl.CLASS_MAC, NetControl.MAC_ADDR_SET, MacAddress.parse("01:00:5e:00:00:01").bytes()))
                    .isEqualTo(NetControl.ERR);
            // Promiscuous off, empty tables: frames for the new MAC (and broadcast) still arrive.
            assertThat(h.ctrl(NetControl.CLASS_RX, NetControl.RX_PROMISC, new byte[] {0})).isEqualTo(NetControl.OK);
            MacAddress hostMac = arp(h, 0, newMac);
            assertThat(ping(h, 0, hostMac, newMac, 21, new byte[8], 2048)).isNotNull();
            // Pings claiming to come from another MAC get replies the filter must drop.
            MacAddress other = MacAddress.parse("52:54:00:aa:bb:99");
            long filtered = h.dev.stats(0).rxFiltered();
            h.send(0, Frames.arpRequest(other, GUEST_IP, HOST_IP)); // host now maps GUEST_IP to `other`
            waitFor(() -> h.dev.stats(0).rxFiltered() > filtered);
            // ... unless the unicast table lists it: TABLE_SET with 1 unicast entry, 0 multicast.
            ByteBuffer t = ByteBuffer.allocate(4 + 6 + 4).order(ByteOrder.LITTLE_ENDIAN);
            t.putInt(1).put(other.bytes()).putInt(0);
            assertThat(h.ctrl(NetControl.CLASS_MAC, NetControl.MAC_TABLE_SET, t.array())).isEqualTo(NetControl.OK);
            assertThat(ping(h, 0, hostMac, other, 22, new byte[8], 2048)).isNotNull();
            // A table whose entry count runs past the command is refused.
            ByteBuffer bad = ByteBuffer.allocate(4 + 6 + 4).order(ByteOrder.LITTLE_ENDIAN);
            bad.putInt(5).put(other.bytes()).putInt(0);
            assertThat(h.ctrl(NetControl.CLASS_MAC, NetControl.MAC_TABLE_SET, bad.array())).isEqualTo(NetControl.ERR);
            // Guest offloads: only negotiated ones.
            byte[] csum = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(VIRTIO_NET_F_GUEST_CSUM).array();
            byte[] tso = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(VIRTIO_NET_F_GUEST_TSO4).array();
            assertThat(h.ctrl(NetControl.CLASS_GUEST_OFFLOADS, NetControl.GUEST_OFFLOADS_SET, csum)).isEqualTo(NetControl.OK);
            assertThat(h.ctrl(NetControl.CLASS_GUEST_OFFLOADS, NetControl.GUEST_OFFLOADS_SET, tso)).isEqualTo(NetControl.ERR);
            assertThat(h.irq.needsReset).isEmpty();
        }
    }

    @Test
    void malformedChainsNeedResetWhileTheOtherPairKeepsWorking() throws Exception {
        try (Tap tap = Tap.open(tapName(), 2);
             NetHarness h = new NetHarness(tap, GUEST_MAC, DRIVER, 2)) {
            intoNamespace(tap);
            h.activate();
            h.postRx(0, 32, 2048);
            MacAddress hostMac = arp(h, 0, GUEST_MAC); // with one pair in service, so the reply comes to pair 0
            assertThat(h.ctrl(NetControl.CLASS_MQ, NetControl.MQ_VQ_PAIRS_SET, le16(2))).isEqualTo(NetControl.OK);
            // TX chain with a device-writable buffer on pair 1.
            long a = h.alloc(64);
            h.drivers[3].add(new SplitRingDriver.Buf(a, 12, false), new SplitRingDriver.Buf(a + 16, 40, true));
            h.dev.queueNotify(3);
            waitFor(() -> !h.irq.needsReset.isEmpty());
            assertThat(h.irq.needsReset.peek()).contains("transmitq1").contains("device-writable");
            // RX chain shorter than the header on pair 1.
            h.drivers[2].add(new SplitRingDriver.Buf(a + 128, 8, true));
            h.dev.queueNotify(2);
            waitFor(() -> h.irq.needsReset.size() == 2);
            assertThat(h.irq.needsReset).anyMatch(s -> s.contains("receiveq1") && s.contains("shorter than"));
            // Control command without an ack byte.
            h.drivers[h.ctrlIndex].add(new SplitRingDriver.Buf(a + 256, 2, false));
            h.dev.queueNotify(h.ctrlIndex);
            waitFor(() -> h.irq.needsReset.size() == 3);
            // Pair 0 keeps working: tun steers the reply of a flow to the queue that sent it (automq).
            assertThat(ping(h, 0, hostMac, GUEST_MAC, 31, new byte[16], 2048)).isNotNull();
            assertThat(h.log).noneMatch(s -> s.contains("handler failed"));
        }
    }

    @Test
    void bridgeAttachAndOneLineErrors() throws Exception {
        String br = "vmb" + (ProcessHandle.current().pid() % 100000);
        String name = tapName();
        assertThatThrownBy(() -> Tap.open(name, 1, 0, br))
                .isInstanceOf(TapException.class).hasMessage("bridge " + br + " does not exist (create it: ip link add " + br + " type bridge)");
        assertThat(Files.exists(Path.of("/sys/class/net", name))).as("tap removed after the failure").isFalse();
        // A bridge without addresses, link down: no traffic can leave it.
        assertThat(run("ip", "link", "add", br, "type", "bridge")).isZero();
        BRIDGES.add(br);
        try (Tap tap = Tap.open(name, 2, 1400, br)) {
            assertThat(tap.queues()).isEqualTo(2);
            assertThat(tap.created()).isTrue();
            assertThat(tap.isUp()).isTrue();
            assertThat(tap.mtu()).isEqualTo(1400);
            assertThat(Files.readSymbolicLink(Path.of("/sys/class/net", name, "master")).getFileName().toString()).isEqualTo(br);
            // Attaching to the existing multi-queue tap with one queue: flags differ.
            assertThatThrownBy(() -> Tap.open(name, 1)).isInstanceOf(TapException.class)
                    .hasMessageContaining("tap " + name + ": the existing interface is not a tap with matching flags");
            // Attaching more queues to it works (another VMM process would do this).
            try (Tap more = Tap.open(name, 2)) {
                assertThat(more.created()).isFalse();
            }
        }
        assertThatThrownBy(() -> Tap.open("lo", 1)).isInstanceOf(TapException.class).hasMessageStartingWith("tap lo:");
    }

    static void waitFor(java.util.function.BooleanSupplier cond) throws InterruptedException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new AssertionError("condition not met within 5 s");
            Thread.sleep(2);
        }
    }
}
