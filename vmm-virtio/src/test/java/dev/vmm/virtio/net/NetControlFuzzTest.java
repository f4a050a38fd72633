package dev.vmm.virtio.net;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vmm.virtio.net.tap.Tap;
import dev.vmm.virtio.testing.FuzzRig;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Jazzer target for the virtio-net control queue as a hostile guest writes it: class and command
 * (half the time a known pair), then data — MAC tables with any entry counts, MAC addresses, MQ
 * pair counts, offload masks — over the chain shapes of {@link FuzzRig}, on a device over a real
 * two-queue tap (so MQ and every control class are offered). Every command must be acked (OK or
 * ERR) or end in NEEDS_RESET; an exception inside a command (the device logs "virtio-net
 * control: ..." and answers ERR) is a finding too. Needs root and /dev/net/tun (skips otherwise).
 */
class NetControlFuzzTest {
    private static final int[][] COMMANDS = {{NetControl.CLASS_RX, NetControl.RX_PROMISC}, {NetControl.CLASS_RX, NetControl.RX_ALLMULTI},
            {NetControl.CLASS_MAC, NetControl.MAC_TABLE_SET}, {NetControl.CLASS_MAC, NetControl.MAC_ADDR_SET},
            {NetControl.CLASS_MQ, NetControl.MQ_VQ_PAIRS_SET}, {NetControl.CLASS_GUEST_OFFLOADS, NetControl.GUEST_OFFLOADS_SET}};
    private static FuzzRig rig;
    private static int ctrl;
    private static final java.util.List<String> LOG = new java.util.concurrent.CopyOnWriteArrayList<>();

    @FuzzTest(maxDuration = "60s")
    void commands(FuzzedDataProvider data) throws Exception {
        if (rig == null) {
            Tap tap;
            try {
                tap = Tap.open("vfz" + ProcessHandle.current().pid() % 100000, 2);
            } catch (RuntimeException e) {
                assumeTrue(false, "tap devices unusable here: " + e.getMessage());
                return;
            }
            VirtioNet[] dev = new VirtioNet[1];
            rig = new FuzzRig(threads -> dev[0] = new VirtioNet(tap, MacAddress.parse("52:54:00:12:34:56"), 64,
                    java.util.List.of(threads.get(0), threads.get(0)), LOG::add), true, true, true, true, true);
            ctrl = dev[0].queueCount() - 1;
        }
        for (int n = data.consumeInt(1, 4); n > 0 && data.remainingBytes() > 0; n--) {
            byte[] cmd;
            if (data.consumeBoolean()) {
                int[] c = COMMANDS[data.consumeInt(0, COMMANDS.length - 1)];
                byte[] body = switch (data.consumeInt(0, 3)) {
                    case 0 -> macTables(data);
                    case 1 -> data.consumeBytes(6);
                    case 2 -> ByteBuffer.allocate(2).order(ByteOrder.LITTLE_ENDIAN).putShort((short) data.consumeInt(0, 3)).array();
                    default -> data.consumeBytes(data.consumeInt(0, 16));
                };
                cmd = new byte[2 + body.length];
                cmd[0] = (byte) c[0];
                cmd[1] = (byte) c[1];
                System.arraycopy(body, 0, cmd, 2, body.length);
            } else {
                cmd = data.consumeBytes(data.consumeInt(0, 9000));
            }
            int logged = LOG.size();
            rig.roundTrip(ctrl, cmd, data);
            for (String line : LOG.subList(logged, LOG.size())) {
                if (line.startsWith("virtio-net control:")) throw new AssertionError("exception inside a control command: " + line);
            }
        }
    }

    /** {@code le32 entries, macs} twice, entry counts near the bytes that follow (or anything). */
    private static byte[] macTables(FuzzedDataProvider data) {
        int uc = data.consumeInt(0, 8), mc = data.consumeInt(0, 8);
        ByteBuffer b = ByteBuffer.allocate(8 + 6 * (uc + mc)).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(data.consumeBoolean() ? uc : data.consumeInt());
        b.put(data.consumeBytes(6 * uc));
        b.position(4 + 6 * uc);
        b.putInt(data.consumeBoolean() ? mc : data.consumeInt());
        b.put(data.consumeBytes(6 * mc));
        return java.util.Arrays.copyOf(b.array(), data.consumeBoolean() ? b.capacity() : data.consumeInt(0, b.capacity() + 4));
    }
}
