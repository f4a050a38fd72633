package dev.vmm.virtio.net;

import dev.vmm.virtio.VirtioInterrupt;
import dev.vmm.virtio.io.IoThread;
import dev.vmm.virtio.io.KickWatch;
import dev.vmm.virtio.queue.DescriptorChain;
import dev.vmm.virtio.queue.QueueException;
import dev.vmm.virtio.queue.SplitQueue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

import static dev.vmm.virtio.net.VirtioNet.*;

/**
 * The control virtqueue (virtio 1.x §5.1.6.5): {@code u8 class, u8 command, data...} readable,
 * {@code u8 ack} writable. Supported: RX PROMISC/ALLMULTI, MAC TABLE_SET/ADDR_SET, MQ VQ_PAIRS_SET,
 * GUEST_OFFLOADS_SET — each only if its feature was negotiated. A malformed or unsupported command
 * gets VIRTIO_NET_ERR; a chain without a writable ack byte or without the 2-byte header stops the
 * queue with NEEDS_RESET. Runs on one I/O thread.
 */
final class NetControl {
    public static final int OK = 0, ERR = 1;
    public static final int CLASS_RX = 0, RX_PROMISC = 0, RX_ALLMULTI = 1;
    public static final int CLASS_MAC = 1, MAC_TABLE_SET = 0, MAC_ADDR_SET = 1;
    public static final int CLASS_MQ = 4, MQ_VQ_PAIRS_SET = 0;
    public static final int CLASS_GUEST_OFFLOADS = 5, GUEST_OFFLOADS_SET = 0;
    /** Largest command accepted (a MAC table of ~680 entries): more is refused without reading it. */
    static final int MAX_COMMAND = 8192;

    private final VirtioNet device;
    private final int index;
    private final SplitQueue queue;
    private final IoThread thread;
    private final VirtioInterrupt irq;
    private final KickWatch kick;
    private final long features;
    private final int maxPairs;
    private final DescriptorChain chain = new DescriptorChain(4);
    private boolean broken, stopping;

    NetControl(VirtioNet device, int index, SplitQueue queue, IoThread thread, VirtioInterrupt irq, int kickFd,
               long features, int maxPairs) {
        this.device = device;
        this.index = index;
        this.queue = queue;
        this.thread = thread;
        this.irq = irq;
        this.kick = new KickWatch(thread, kickFd);
        this.features = features;
        this.maxPairs = maxPairs;
    }

    void start() {
        kick.watch(this::process);
        process();
    }

    CompletableFuture<int[]> stop() {
        return thread.submit(() -> {
            stopping = true;
            kick.unwatch();
            return new int[0]; // commands complete as they are popped: nothing held
        });
    }

    private void process() {
        if (broken || stopping) return;
        try {
            while (queue.pop(chain)) {
                if (chain.writableBytes() < 1 || chain.readableBytes() < 2) {
                    fail("command (head " + chain.head() + ") needs a 2-byte header and a writable ack byte");
                    return;
                }
                int ack;
                try {
                    ack = execute(chain);
                } catch (RuntimeException e) {
                    device.log("virtio-net control: " + e.getMessage());
                    ack = ERR;
                }
                chain.writeToChain(0, new byte[] {(byte) ack});
                queue.addUsed(chain.head(), 1);
            }
            if (queue.needsNotification()) irq.signalUsedBuffer(index);
        } catch (QueueException e) {
            fail(e.getMessage());
        }
    }

    private void fail(String why) {
        broken = true;
        irq.deviceNeedsReset("virtio-net controlq: " + why);
    }

    private int execute(DescriptorChain c) {
        long total = c.readableBytes();
        if (total > MAX_COMMAND) return ERR;
        byte[] cmd = new byte[(int) total];
        c.readFromChain(0, cmd); // one copy: validate and use the same bytes
        int cls = cmd[0] & 0xFF, code = cmd[1] & 0xFF;
        int len = cmd.length - 2;
        MemorySegment data = MemorySegment.ofArray(cmd).asSlice(2);
        switch (cls) {
            case CLASS_RX -> {
                if (!has(VIRTIO_NET_F_CTRL_RX) || len != 1) return ERR;
                boolean on = cmd[2] != 0;
                if (code == RX_PROMISC) device.setFilter(device.filter().withPromisc(on));
                else if (code == RX_ALLMULTI) device.setFilter(device.filter().withAllMulti(on));
                else return ERR;
                return OK;
            }
            case CLASS_MAC -> {
                if (code == MAC_ADDR_SET) {
                    if (!has(VIRTIO_NET_F_CTRL_MAC_ADDR) || len != 6) return ERR;
                    MacAddress m = MacAddress.of(cmd, 2);
                    if (m.isMulticast() || m.isZero()) return ERR;
                    device.setMac(m);
                    return OK;
                }
                if (code == MAC_TABLE_SET) {
                    if (!has(VIRTIO_NET_F_CTRL_RX)) return ERR;
                    Set<Long> uc = new HashSet<>(), mc = new HashSet<>();
                    long at = readTable(data, 0, uc);
                    if (at < 0) return ERR;
                    at = readTable(data, at, mc);
                    if (at != len) return ERR; // short, or trailing bytes
                    device.setFilter(device.filter().withTables(uc, mc));
                    return OK;
                }
                return ERR;
            }
            case CLASS_MQ -> {
                if (!has(VIRTIO_NET_F_MQ) || code != MQ_VQ_PAIRS_SET || len != 2) return ERR;
                int n = Short.toUnsignedInt(data.get(ValueLayout.JAVA_SHORT_UNALIGNED, 0));
                if (n < 1 || n > maxPairs) return ERR;
                device.setActivePairs(n);
                return OK;
            }
            case CLASS_GUEST_OFFLOADS -> {
                if (!has(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) || code != GUEST_OFFLOADS_SET || len != 8) return ERR;
                long want = data.get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
                // Only offloads that were negotiated may be switched on (§5.1.6.5.6.1).
                if ((want & ~(features & GUEST_OFFLOADS)) != 0) return ERR;
                return device.setGuestOffloads(want) ? OK : ERR;
            }
            default -> {
                return ERR;
            }
        }
    }

    /** A {@code le32 entries; u8 macs[entries][6]} table at {@code at}; the offset after it, or -1. */
    private static long readTable(MemorySegment data, long at, Set<Long> out) {
        if (at + 4 > data.byteSize()) return -1;
        long entries = Integer.toUnsignedLong(data.get(ValueLayout.JAVA_INT_UNALIGNED, at));
        at += 4;
        if (entries * 6 > data.byteSize() - at) return -1;
        for (long i = 0; i < entries; i++, at += 6) {
            long v = 0;
            for (int b = 0; b < 6; b++) v = (v << 8) | (data.get(ValueLayout.JAVA_BYTE, at + b) & 0xFF);
            out.add(v);
        }
        return at;
    }

    private boolean has(long f) {
        return (features & f) != 0;
    }
}
