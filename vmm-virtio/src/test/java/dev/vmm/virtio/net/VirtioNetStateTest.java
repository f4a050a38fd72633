package dev.vmm.virtio.net;

import dev.vmm.virtio.net.tap.Tap;
import dev.vmm.virtio.testing.SplitRingDriver;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;

import static dev.vmm.virtio.net.VirtioNet.*;
import static dev.vmm.virtio.net.VirtioNetTapTest.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * virtio-net's part of a snapshot / migration, against a real tap in a private namespace (see
 * {@link VirtioNetTapTest}; skipped without root): device A runs with driver-set state (MAC,
 * filter, two pairs in service, offloads) and receive buffers popped into its FIFOs; it is
 * quiesced and saved; device B on the same tap loads the state and continues at the saved ring
 * positions — the receive buffers A held are given back and used first, in ring order.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class VirtioNetStateTest {
    static final MacAddress NEW_MAC = MacAddress.parse("52:54:00:aa:bb:77");

    @BeforeAll
    static void setUp() throws Exception {
        VirtioNetTapTest.needsTunAndNetns();
    }

    @AfterAll
    static void tearDown() throws Exception {
        VirtioNetTapTest.cleanUp();
    }

    @Test
    void heldReceiveBuffersAreGivenBackAndTheRestoredDeviceContinuesWithTheDriversSettings() throws Exception {
        try (Tap tap = Tap.open(tapName(), 2);
             Tap one = Tap.open(tapName(), 1);
             NetHarness h = new NetHarness(tap, GUEST_MAC, DRIVER, 2);
             // Built before the taps move to the namespace (the constructor reads the MTU by name).
             VirtioNet otherMac = h.spareDevice(MacAddress.parse("52:54:00:aa:bb:02"));
             VirtioNet same = h.spareDevice(GUEST_MAC);
             VirtioNet onePair = new VirtioNet(one, GUEST_MAC, NetHarness.QSIZE, h.threads, h.log::add)) {
            VirtioNet restored = h.spareDevice(GUEST_MAC); // the harness closes it (it becomes h.dev)
            intoNamespace(tap);
            h.activate();
            assertThat(h.ctrl(NetControl.CLASS_MAC, NetControl.MAC_ADDR_SET, NEW_MAC.bytes())).isEqualTo(NetControl.OK);
            assertThat(h.ctrl(NetControl.CLASS_RX, NetControl.RX_PROMISC, new byte[] {0})).isEqualTo(NetControl.OK);
            assertThat(h.ctrl(NetControl.CLASS_MQ, NetControl.MQ_VQ_PAIRS_SET, le16(2))).isEqualTo(NetControl.OK);
            byte[] csum = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(VIRTIO_NET_F_GUEST_CSUM).array();
            assertThat(h.ctrl(NetControl.CLASS_GUEST_OFFLOADS, NetControl.GUEST_OFFLOADS_SET, csum)).isEqualTo(NetControl.OK);
            h.postRx(0, 8, 2048);
            h.postRx(1, 8, 2048);
            MacAddress hostMac = arp(h, 0, NEW_MAC);
            assertThat(ping(h, 0, hostMac, NEW_MAC, 1, new byte[32], 2048)).isNotNull();
            // Each pair's RX path has popped receive buffers ahead of any frame (one MTU frame's worth).
            waitFor(() -> h.queues.get(0).nextAvail() > h.queues.get(0).nextUsed()
                    && h.queues.get(2).nextAvail() > h.queues.get(2).nextUsed());
            int[] availBefore = {h.queues.get(0).nextAvail(), h.queues.get(2).nextAvail()};
            int[] heldBefore = {availBefore[0] - h.queues.get(0).nextUsed(), availBefore[1] - h.queues.get(2).nextUsed()};
            RxFilter filter = h.dev.rxFilter();
            byte[] state = h.dev.saveState(); // before the quiesce too: for the refusal checks below

            int[] rewind = h.saveAndRestore(restored);
            assertThat(rewind).containsExactly(heldBefore[0], 0, heldBefore[1], 0, 0);
            assertThat(h.dev.mac()).isEqualTo(NEW_MAC);
            assertThat(h.dev.rxFilter()).isEqualTo(filter);
            assertThat(h.dev.rxFilter().promisc()).isFalse();
            assertThat(h.dev.readConfig(5, 1)).isEqualTo(0x77);
            assertThat(h.dev.readConfig(6, 2)).isEqualTo(S_LINK_UP);

            // The first frame on receiveq0 lands in the first buffer A held (ring order kept).
            int firstHeld = h.mem.readU16(h.drivers[0].avail + 4 + 2L * ((availBefore[0] - heldBefore[0]) % NetHarness.QSIZE)) & 0xFFFF;
            int seen = h.usedHeads.get(0).size();
            assertThat(ping(h, 0, hostMac, NEW_MAC, 2, new byte[32], 2048)).as("log %s", h.log).isNotNull();
            assertThat(h.usedHeads.get(0).get(seen)).isEqualTo(firstHeld);
            // Pair 1 is still in service (VQ_PAIRS_SET 2 survived): it transmits and gets its reply.
            assertThat(ping(h, 1, hostMac, NEW_MAC, 3, new byte[32], 2048)).as("log %s", h.log).isNotNull();
            // The transmit worker counts the frame before it returns the chain, but the echo reply
            // may come back on the other tap queue (tun's flow steering), served by pair 0's I/O
            // thread, before pair 1's thread got to its count: wait for the transmitted chain first.
            SplitRingDriver.Used sent = h.drivers[3].waitUsed(5000);
            assertThat(sent).as("pair 1's frame returned on transmitq1; log %s", h.log).isNotNull();
            assertThat(h.drivers[3].waitUsed(0)).as("one chain on transmitq1").isNull();
            assertThat(h.dev.stats(1).txPackets()).isEqualTo(1);
            assertThat(h.dev.stats(1).txDropped()).isZero();
            assertThat(h.irq.needsReset).isEmpty();

            // Refusals: another MAC on the command line, another version, a cut state.
            assertThatThrownBy(() -> otherMac.loadState(1, state)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("virtio-net: the saved device has MAC 52:54:00:aa:bb:01, this one 52:54:00:aa:bb:02 (start the destination with the same --net mac)");
            assertThatThrownBy(() -> same.loadState(2, state)).hasMessage("virtio-net: saved state version 2, this vmm reads 1");
            assertThatThrownBy(() -> same.loadState(1, java.util.Arrays.copyOf(state, 20))).hasMessageContaining("malformed saved state");
            byte[] longer = java.util.Arrays.copyOf(state, state.length + 3);
            assertThatThrownBy(() -> same.loadState(1, longer)).hasMessageContaining("3 trailing bytes");
            assertThatThrownBy(() -> onePair.loadState(1, state))
                    .hasMessage("virtio-net: the saved device has 2 queue pairs, this one 1 (start the destination with the same --net queues)");
        }
    }
}
