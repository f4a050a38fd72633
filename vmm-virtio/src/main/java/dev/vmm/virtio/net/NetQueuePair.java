package dev.vmm.virtio.net;

import dev.vmm.ffm.libc.Libc;
import dev.vmm.memory.GuestMemory;
import dev.vmm.virtio.VirtioInterrupt;
import dev.vmm.virtio.io.IoThread;
import dev.vmm.virtio.io.KickWatch;
import dev.vmm.virtio.queue.DescriptorChain;
import dev.vmm.virtio.queue.QueueException;
import dev.vmm.virtio.queue.SplitQueue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.CompletableFuture;

import static dev.vmm.ffm.libc.Errno.EAGAIN;
import static dev.vmm.ffm.libc.Errno.EBADFD;
import static dev.vmm.ffm.libc.Errno.EIO;
import static dev.vmm.virtio.net.VirtioNet.*;

/**
 * One receiveq/transmitq pair and its tap queue fd, served on one {@link IoThread}.
 *
 * <p><b>TX</b> (transmitq kick): pop a chain → check it (device-readable only, at least the
 * 12-byte header, header flags/GSO type allowed by the negotiated features) → one {@code writev}
 * of the chain's buffers straight from guest RAM → used (len 0). A frame the tap refuses is
 * dropped (counted); EAGAIN keeps the chain and retries after 1 ms.
 *
 * <p><b>RX</b> (tap readable, or receiveq kick): chains are popped ahead into a FIFO until they
 * can hold the largest frame the tap may deliver (with MRG_RXBUF: across several chains; without:
 * one chain), then one {@code readv} into them. The frame's bytes decide how many chains it used;
 * {@code num_buffers} is written into its header; the rest stay for the next frame. A frame the
 * receive filter rejects leaves the chains unused. With too few buffers the tap fd leaves the
 * epoll set (no busy loop on a level-triggered readable fd) and comes back on the next kick.
 *
 * <p>Driver errors (ring errors, an RX chain with readable descriptors or shorter than the header,
 * a TX chain with writable descriptors or shorter than the header) stop that queue and report
 * NEEDS_RESET; other pairs keep running. Nothing thrown here escapes to the I/O thread.
 * All state is confined to the I/O thread.
 */
final class NetQueuePair {
    /** Linux's UIO_MAXIOV: the most iovecs one readv/writev takes. */
    private static final int MAX_IOV = 1024;
    private static final int TX_BUDGET = 256, RX_BUDGET = 256;
    private static final long IOV = Libc.IOVEC.byteSize();

    private final VirtioNet device;
    private final int pair;
    private final SplitQueue rx, tx;
    private final GuestMemory memory;
    private final IoThread thread;
    private final VirtioInterrupt irq;
    private final KickWatch rxKick, txKick;
    private final int tapFd;
    private final boolean mergeable;
    private final long features;
    private final NetQueueStats stats;
    private final int rxNeeded;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment txIov = arena.allocate(IOV * MAX_IOV, 8);
    private final MemorySegment rxIov = arena.allocate(IOV * MAX_IOV, 8);
    private final MemorySegment[] rxSegs = new MemorySegment[MAX_IOV];
    private int rxSegCount;
    private final byte[] hdr = new byte[HDR_SIZE];
    private final DescriptorChain txChain = new DescriptorChain(16);
    /** Popped RX chains not yet used, in ring order (FIFO over {@code rxPool}). */
    private final DescriptorChain[] rxPool;
    private int rxFirst, rxCount;
    private final int[] rxUsedLen;
    private boolean txHeld;
    private boolean txRetryScheduled;
    private boolean tapWatched;
    /** In service (pair index < the driver's VQ_PAIRS_SET count); written by the control thread. */
    private volatile boolean active;
    private boolean rxBroken, txBroken, stopping;

    NetQueuePair(VirtioNet device, int pair, SplitQueue rx, SplitQueue tx, GuestMemory memory, IoThread thread,
                 VirtioInterrupt irq, int rxKick, int txKick, int tapFd, long features, NetQueueStats stats, boolean active) {
        this.device = device;
        this.pair = pair;
        this.rx = rx;
        this.tx = tx;
        this.memory = memory;
        this.thread = thread;
        this.irq = irq;
        this.rxKick = new KickWatch(thread, rxKick);
        this.txKick = new KickWatch(thread, txKick);
        this.tapFd = tapFd;
        this.features = features;
        this.mergeable = (features & VIRTIO_NET_F_MRG_RXBUF) != 0;
        this.stats = stats;
        this.active = active;
        boolean gso = (features & (VIRTIO_NET_F_GUEST_TSO4 | VIRTIO_NET_F_GUEST_TSO6 | VIRTIO_NET_F_GUEST_UFO)) != 0;
        this.rxNeeded = HDR_SIZE + (gso ? MAX_GSO_FRAME : device.mtu() + 14 + 4);
        int n = rx != null ? rx.size() : 1;
        rxPool = new DescriptorChain[n];
        for (int i = 0; i < n; i++) rxPool[i] = new DescriptorChain(4);
        rxUsedLen = new int[n];
    }

    // ---- life cycle (on the I/O thread) -------------------------------------------------------

    void start() {
        if (tx != null) txKick.watch(this::processTx);
        if (rx != null) rxKick.watch(this::processRx);
        processTx();
        processRx();
    }

    /**
     * Stops the pair on its thread, between two chains (TX writes are synchronous, so no frame is
     * half sent). Completes with the chains it still held, {@code {rx, tx}}: receive buffers popped
     * into the FIFO but not filled, and a transmit chain kept back because the tap was full. They
     * are the most recently popped chains of their queue, in ring order, so moving next-available
     * back by as many gives them back to the device that continues (snapshot / migration).
     */
    CompletableFuture<int[]> stop() {
        return thread.submit(() -> {
            stopping = true;
            txKick.unwatch();
            rxKick.unwatch();
            unwatchTap();
            arena.close();
            return new int[] {rx != null ? rxCount : 0, tx != null && txHeld ? 1 : 0};
        });
    }

    /** VQ_PAIRS_SET moved this pair in or out of service (the tap queue is already (de)tached). */
    void setActive(boolean on) {
        active = on; // before the ack reaches the driver: its next TX on this pair must see it
        thread.execute(() -> {
            if (stopping) return;
            if (on) processRx();
            else unwatchTap();
        });
    }

    private void watchTap() {
        if (!tapWatched) {
            thread.addFd(tapFd, this::onTapReadable);
            tapWatched = true;
        }
    }

    private void unwatchTap() {
        if (tapWatched) {
            thread.removeFd(tapFd);
            tapWatched = false;
        }
    }

    // ---- TX -------------------------------------------------------------------------------------

    private void processTx() {
        if (tx == null || txBroken || stopping) return;
        int budget = TX_BUDGET;
        try {
            do {
                tx.disableNotification();
                while (true) {
                    if (!txHeld) {
                        if (budget-- == 0) {
                            thread.execute(this::processTx); // let other queues on this thread run
                            return;
                        }
                        if (!tx.pop(txChain)) break;
                    }
                    int r = transmit(txChain);
                    if (r < 0) return; // broken
                    if (r == 0) { // EAGAIN: keep the chain, retry shortly
                        txHeld = true;
                        if (!txRetryScheduled) {
                            txRetryScheduled = true;
                            thread.schedule(System.nanoTime() + 1_000_000, () -> {
                                txRetryScheduled = false;
                                processTx();
                            });
                        }
                        notifyTx();
                        return;
                    }
                    txHeld = false;
                    tx.addUsed(txChain.head(), 0);
                }
            } while (tx.enableNotification());
            notifyTx();
        } catch (QueueException e) {
            txBroken = true;
            irq.deviceNeedsReset(e.getMessage());
        } catch (RuntimeException e) {
            txBroken = true;
            irq.deviceNeedsReset("virtio-net transmitq" + pair + ": " + e);
        }
    }

    private void notifyTx() throws QueueException {
        if (tx.needsNotification()) irq.signalUsedBuffer(2 * pair + 1);
    }

    /** 1: done (sent or dropped), 0: tap full (retry), -1: driver error, queue stopped. */
    private int transmit(DescriptorChain c) {
        if (c.writableCount() > 0) return txError("chain (head " + c.head() + ") has device-writable buffers");
        if (c.readableBytes() < HDR_SIZE) {
            return txError("chain (head " + c.head() + ") is " + c.readableBytes() + " bytes, shorter than the "
                    + HDR_SIZE + "-byte virtio-net header");
        }
        // An inactive pair's tap queue is detached, but tun still takes writes on it: drop them here,
        // as the driver must not use pairs above VQ_PAIRS_SET.
        if (!active || c.count() > MAX_IOV || !headerAllowed(c)) {
            stats.txDropped++;
            return 1;
        }
        for (int i = 0; i < c.count(); i++) {
            MemorySegment s = c.segment(i);
            txIov.set(ValueLayout.JAVA_LONG, i * IOV, s.address());
            txIov.set(ValueLayout.JAVA_LONG, i * IOV + 8, s.byteSize());
        }
        long n = Libc.writevRaw(tapFd, txIov, c.count());
        if (n == -EAGAIN) return 0;
        if (n < 0) {
            stats.txDropped++; // EINVAL (bad header, too big), EBADFD (pair not active), EIO (link down)...
            return 1;
        }
        stats.txPackets++;
        stats.txBytes += c.readableBytes() - HDR_SIZE;
        return 1;
    }

    /**
     * The header may only ask for what was negotiated: NEEDS_CSUM needs CSUM, a GSO type needs the
     * matching HOST_ feature. (The tap checks offsets itself; this is policy, not memory safety, so a
     * driver racing its own header after this check can only reach the tap's own validation.)
     */
    private boolean headerAllowed(DescriptorChain c) {
        c.readFromChain(0, hdr);
        int flags = hdr[0] & 0xFF, gso = hdr[1] & 0xFF;
        if ((flags & HDR_F_NEEDS_CSUM) != 0 && (features & VIRTIO_NET_F_CSUM) == 0) return false;
        if ((flags & ~(HDR_F_NEEDS_CSUM | HDR_F_DATA_VALID)) != 0) return false;
        if ((gso & GSO_ECN) != 0 && (features & VIRTIO_NET_F_HOST_ECN) == 0) return false;
        return switch (gso & ~GSO_ECN) {
            case GSO_NONE -> (gso & GSO_ECN) == 0;
            case GSO_TCPV4 -> (features & VIRTIO_NET_F_HOST_TSO4) != 0;
            case GSO_TCPV6 -> (features & VIRTIO_NET_F_HOST_TSO6) != 0;
            case GSO_UDP -> (features & VIRTIO_NET_F_HOST_UFO) != 0;
            default -> false;
        };
    }

    private int txError(String what) {
        txBroken = true;
        irq.deviceNeedsReset("virtio-net transmitq" + pair + ": " + what);
        return -1;
    }

    // ---- RX -------------------------------------------------------------------------------------

    private void onTapReadable() {
        processRx();
    }

    private void processRx() {
        if (rx == null || rxBroken || stopping) return;
        if (!active) {
            unwatchTap();
            return;
        }
        try {
            boolean delivered = false;
            rx.disableNotification();
            for (int budget = RX_BUDGET; budget > 0; budget--) {
                if (!haveRxBuffers()) {
                    if (rxBroken) return;
                    // Out of buffers: stop reading the tap until the driver posts more and kicks.
                    unwatchTap();
                    if (rx.enableNotification() && haveRxBuffers()) {
                        rx.disableNotification();
                    } else {
                        if (rxBroken) return;
                        if (delivered && rx.needsNotification()) irq.signalUsedBuffer(2 * pair);
                        return;
                    }
                }
                int r = receiveOne();
                if (r == 0) break; // nothing to read (EAGAIN)
                if (r > 0) delivered = true;
            }
            // Still have buffers: keep the tap in the epoll set (level-triggered: more frames bring us back).
            watchTap();
            rx.enableNotification(); // let the driver kick us if we later run short
            if (delivered && rx.needsNotification()) irq.signalUsedBuffer(2 * pair);
        } catch (QueueException e) {
            rxError(e.getMessage());
        } catch (RuntimeException e) {
            rxError("" + e);
        }
    }

    /** Pops chains until the FIFO can hold the largest possible frame (one chain without MRG_RXBUF). */
    private boolean haveRxBuffers() throws QueueException {
        while (true) {
            long bytes = 0;
            int iovs = 0;
            for (int k = 0; k < rxCount; k++) {
                DescriptorChain c = rxPool[(rxFirst + k) % rxPool.length];
                if (iovs + c.count() > MAX_IOV) return true; // as much as one readv takes
                bytes += c.writableBytes();
                iovs += c.count();
                if (!mergeable || bytes >= rxNeeded) return true;
            }
            if (rxCount == rxPool.length) return true; // every buffer of the ring is ours
            DescriptorChain c = rxPool[(rxFirst + rxCount) % rxPool.length];
            if (!rx.pop(c)) return false;
            if (c.count() > MAX_IOV) {
                rxError("chain (head " + c.head() + ") has " + c.count() + " buffers, more than " + MAX_IOV);
                return false;
            }
            if (c.readableCount() > 0 || c.writableBytes() < HDR_SIZE) {
                rxError("chain (head " + c.head() + ") " + (c.readableCount() > 0
                        ? "has device-readable buffers" : "is " + c.writableBytes() + " bytes, shorter than the " + HDR_SIZE + "-byte header"));
                return false;
            }
            rxCount++;
        }
    }

    /** Reads one frame into the FIFO's chains: 1 delivered, -1 dropped/filtered, 0 nothing to read. */
    private int receiveOne() throws QueueException {
        int iovs = 0, chains = 0;
        for (int k = 0; k < rxCount && (k == 0 || mergeable); k++) {
            DescriptorChain c = rxPool[(rxFirst + k) % rxPool.length];
            if (iovs + c.count() > MAX_IOV) break;
            for (int i = 0; i < c.count(); i++) {
                MemorySegment s = c.segment(i);
                rxSegs[iovs] = s;
                rxIov.set(ValueLayout.JAVA_LONG, iovs * IOV, s.address());
                rxIov.set(ValueLayout.JAVA_LONG, iovs * IOV + 8, s.byteSize());
                iovs++;
            }
            chains++;
        }
        rxSegCount = iovs;
        long n = Libc.readvRaw(tapFd, rxIov, iovs);
        if (n == -EAGAIN) return 0;
        if (n < 0) {
            // EFAULT: frame larger than the buffers (tun drops it); EBADFD: queue detached; others: count and go on.
            stats.rxDropped++;
            if (n == -EBADFD || n == -EIO) {
                unwatchTap();
                return 0;
            }
            return -1;
        }
        if (n < HDR_SIZE + 14) {
            stats.rxDropped++;
            return -1;
        }
        long dest = 0;
        for (int i = 0; i < 6; i++) dest = (dest << 8) | (streamByte(HDR_SIZE + i) & 0xFF);
        if (!device.filter().accepts(dest)) {
            stats.rxFiltered++;
            return -1; // chains stay in the FIFO for the next frame
        }
        // Which chains did the frame fill?
        long left = n;
        int used = 0;
        while (left > 0 && used < chains) {
            DescriptorChain c = rxPool[(rxFirst + used) % rxPool.length];
            long take = Math.min(left, c.writableBytes());
            rxUsedLen[used] = (int) take;
            left -= take;
            used++;
        }
        // num_buffers (le16 at header offset 10): 1 without MRG_RXBUF, as VERSION_1 requires.
        putStreamByte(10, (byte) used);
        putStreamByte(11, (byte) (used >>> 8));
        for (int k = 0; k < used; k++) {
            rx.addUsed(rxPool[rxFirst].head(), rxUsedLen[k]);
            rxFirst = (rxFirst + 1) % rxPool.length;
            rxCount--;
        }
        stats.rxPackets++;
        stats.rxBytes += n - HDR_SIZE;
        return 1;
    }

    private byte streamByte(long off) {
        for (int i = 0; i < rxSegCount; i++) {
            long len = rxSegs[i].byteSize();
            if (off < len) return rxSegs[i].get(ValueLayout.JAVA_BYTE, off);
            off -= len;
        }
        return 0;
    }

    private void putStreamByte(long off, byte b) {
        for (int i = 0; i < rxSegCount; i++) {
            long len = rxSegs[i].byteSize();
            if (off < len) {
                rxSegs[i].set(ValueLayout.JAVA_BYTE, off, b);
                return;
            }
            off -= len;
        }
    }

    private void rxError(String what) {
        if (rxBroken) return;
        rxBroken = true;
        unwatchTap();
        irq.deviceNeedsReset("virtio-net receiveq" + pair + ": " + what);
    }
}
