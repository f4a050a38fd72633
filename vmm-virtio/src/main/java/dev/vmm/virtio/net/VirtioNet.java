package dev.vmm.virtio.net;

import dev.vmm.ffm.net.TunIoctls;
import dev.vmm.memory.GuestMemory;
import dev.vmm.virtio.ActivationException;
import dev.vmm.virtio.MigratableDevice;
import dev.vmm.virtio.VirtioDevice;
import dev.vmm.virtio.VirtioDeviceType;
import dev.vmm.virtio.VirtioFeatures;
import dev.vmm.virtio.VirtioInterrupt;
import dev.vmm.virtio.io.IoThread;
import dev.vmm.virtio.io.QueueDevice;
import dev.vmm.virtio.net.tap.Tap;
import dev.vmm.virtio.queue.SplitQueue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * The virtio network device (type 1, virtio 1.x §5.1) over a multi-queue {@link Tap}: N queue pairs
 * (receiveq {@code 2i}, transmitq {@code 2i+1}), each served by a {@link NetQueuePair} on an
 * {@link IoThread} (pair {@code i} on thread {@code i mod M}) with its own tap queue fd, and a
 * control queue ({@link NetControl}, on the first thread) for MQ, MAC and RX-mode commands.
 *
 * <p>Frames move between tap and guest RAM without a bounce copy: TX is one {@code writev} of the
 * guest's buffers (virtio-net header included — tap takes the same 12-byte header), RX one
 * {@code readv} into the guest's posted buffers (several chains with MRG_RXBUF).
 *
 * <p>Wiring: every virtqueue has an eventfd ({@link #queueEventFd(int)}) for KVM_IOEVENTFD;
 * {@link #queueNotify(int)} (the transport's fallback) writes it. The device owns neither the tap
 * nor the threads: {@link #close()} first, then the threads, then the tap.
 */
public final class VirtioNet extends QueueDevice {
    // Feature bits (virtio 1.x §5.1.3).
    public static final long VIRTIO_NET_F_CSUM = 1L << 0;
    public static final long VIRTIO_NET_F_GUEST_CSUM = 1L << 1;
    public static final long VIRTIO_NET_F_CTRL_GUEST_OFFLOADS = 1L << 2;
    public static final long VIRTIO_NET_F_MTU = 1L << 3;
    public static final long VIRTIO_NET_F_MAC = 1L << 5;
    public static final long VIRTIO_NET_F_GUEST_TSO4 = 1L << 7;
    public static final long VIRTIO_NET_F_GUEST_TSO6 = 1L << 8;
    public static final long VIRTIO_NET_F_GUEST_ECN = 1L << 9;
    public static final long VIRTIO_NET_F_GUEST_UFO = 1L << 10;
    public static final long VIRTIO_NET_F_HOST_TSO4 = 1L << 11;
    public static final long VIRTIO_NET_F_HOST_TSO6 = 1L << 12;
    public static final long VIRTIO_NET_F_HOST_ECN = 1L << 13;
    public static final long VIRTIO_NET_F_HOST_UFO = 1L << 14;
    public static final long VIRTIO_NET_F_MRG_RXBUF = 1L << 15;
    public static final long VIRTIO_NET_F_STATUS = 1L << 16;
    public static final long VIRTIO_NET_F_CTRL_VQ = 1L << 17;
    public static final long VIRTIO_NET_F_CTRL_RX = 1L << 18;
    public static final long VIRTIO_NET_F_MQ = 1L << 22;
    public static final long VIRTIO_NET_F_CTRL_MAC_ADDR = 1L << 23;

    /** The guest-receive offloads, as a mask (what CTRL_GUEST_OFFLOADS may switch). */
    public static final long GUEST_OFFLOADS = VIRTIO_NET_F_GUEST_CSUM | VIRTIO_NET_F_GUEST_TSO4 | VIRTIO_NET_F_GUEST_TSO6
            | VIRTIO_NET_F_GUEST_ECN | VIRTIO_NET_F_GUEST_UFO;

    // virtio_net_hdr (§5.1.6).
    public static final int HDR_SIZE = Tap.VNET_HDR_SIZE;
    public static final int HDR_F_NEEDS_CSUM = 1;
    public static final int HDR_F_DATA_VALID = 2;
    public static final int GSO_NONE = 0, GSO_TCPV4 = 1, GSO_UDP = 3, GSO_TCPV6 = 4, GSO_ECN = 0x80;

    public static final int S_LINK_UP = 1;
    /** mac[6], status, max_virtqueue_pairs, mtu. */
    public static final int CONFIG_SIZE = 12;
    /** Largest frame tap hands over with GSO (64 KiB IP packet + Ethernet + VLAN header). */
    static final int MAX_GSO_FRAME = 65535 + 14 + 4;

    private final Tap tap;
    private final int pairs;
    private final int queueSize;
    private final int mtu;
    private final long features;
    private final NetQueueStats[] stats;
    private final NetQueuePair[] workers;
    private NetControl control;
    private volatile RxFilter filter;
    private final MacAddress initialMac;
    private volatile MacAddress mac;
    private volatile boolean linkUp = true;
    private volatile VirtioInterrupt interrupt;
    private volatile long negotiated;
    /** Pairs in service (VQ_PAIRS_SET); 1 after a reset. Kept across a quiesce and loaded by a restore. */
    private volatile int activePairs = 1;
    /** Guest offloads the driver set with GUEST_OFFLOADS_SET, or -1: as negotiated (after a reset). */
    private volatile long guestOffloads = -1;

    /**
     * @param tap       an open tap with {@code pairs} queues ({@link dev.vmm.virtio.net.tap.Tap#open(String, int, int, String)})
     * @param mac       the guest's MAC address (config space, default RX filter)
     * @param queueSize max size of every virtqueue (power of two)
     * @param threads   the I/O threads to spread the queue pairs over (at least one)
     */
    public VirtioNet(Tap tap, MacAddress mac, int queueSize, List<IoThread> threads) {
        this(tap, mac, queueSize, threads, msg -> System.err.println(msg));
    }

    public VirtioNet(Tap tap, MacAddress mac, int queueSize, List<IoThread> threads, Consumer<String> log) {
        super("virtio-net", checkedQueueCount(tap, queueSize, threads), threads, log);
        this.tap = tap;
        this.pairs = tap.queues();
        this.queueSize = queueSize;
        this.initialMac = mac;
        this.mac = mac;
        this.filter = RxFilter.initial(mac);
        this.mtu = Math.min(tap.mtu(), 65535);
        if (Files.exists(Path.of("/dev/vhost-net"))) {
            log.accept("virtio-net: /dev/vhost-net exists but is not used: queues are served in user space");
        }
        int tunOk = tap.probeOffloads(TunIoctls.TUN_F_CSUM | TunIoctls.TUN_F_TSO4 | TunIoctls.TUN_F_TSO6
                | TunIoctls.TUN_F_TSO_ECN | TunIoctls.TUN_F_UFO);
        long f = VirtioFeatures.VIRTIO_F_VERSION_1 | VirtioFeatures.VIRTIO_F_EVENT_IDX | VirtioFeatures.VIRTIO_F_INDIRECT_DESC
                | VIRTIO_NET_F_MAC | VIRTIO_NET_F_MTU | VIRTIO_NET_F_STATUS | VIRTIO_NET_F_MRG_RXBUF
                | VIRTIO_NET_F_CTRL_VQ | VIRTIO_NET_F_CTRL_RX | VIRTIO_NET_F_CTRL_MAC_ADDR
                // The tap takes whatever the guest's header asks for (checksum, TSO, UFO) when writing.
                | VIRTIO_NET_F_CSUM | VIRTIO_NET_F_HOST_TSO4 | VIRTIO_NET_F_HOST_TSO6 | VIRTIO_NET_F_HOST_ECN;
        if ((tunOk & TunIoctls.TUN_F_UFO) != 0) f |= VIRTIO_NET_F_HOST_UFO | VIRTIO_NET_F_GUEST_UFO;
        if ((tunOk & TunIoctls.TUN_F_CSUM) != 0) f |= VIRTIO_NET_F_GUEST_CSUM | VIRTIO_NET_F_CTRL_GUEST_OFFLOADS;
        if ((tunOk & TunIoctls.TUN_F_TSO4) != 0) f |= VIRTIO_NET_F_GUEST_TSO4;
        if ((tunOk & TunIoctls.TUN_F_TSO6) != 0) f |= VIRTIO_NET_F_GUEST_TSO6;
        if ((tunOk & TunIoctls.TUN_F_TSO_ECN) != 0) f |= VIRTIO_NET_F_GUEST_ECN;
        if (pairs > 1) f |= VIRTIO_NET_F_MQ;
        this.features = f;
        stats = new NetQueueStats[pairs];
        workers = new NetQueuePair[pairs];
        for (int i = 0; i < pairs; i++) stats[i] = new NetQueueStats();
    }

    /** The virtqueue count (2 per tap queue + control) once the queue size is checked; before any eventfd is made. */
    private static int checkedQueueCount(Tap tap, int queueSize, List<IoThread> threads) {
        if (threads.isEmpty()) throw new IllegalArgumentException("virtio-net needs at least one I/O thread");
        if (queueSize < 2 || queueSize > SplitQueue.MAX_SIZE || Integer.bitCount(queueSize) != 1) {
            throw new IllegalArgumentException("virtio-net queue size must be a power of two in 2.." + SplitQueue.MAX_SIZE);
        }
        return 2 * tap.queues() + 1;
    }

    // ---- VirtioDevice ------------------------------------------------------------------------

    @Override public VirtioDeviceType deviceType() { return VirtioDeviceType.NET; }

    @Override public long deviceFeatures() { return features; }

    /** 2 per pair + the control queue (index 2N with MQ; index 2 without, as the spec numbers it). */
    @Override public int queueCount() { return 2 * pairs + 1; }

    @Override public int queueMaxSize(int queueIndex) { return queueSize; }

    @Override public int configSize() { return CONFIG_SIZE; }

    /**
     * Read-only for a modern driver (the MAC changes through the control queue): writes are
     * ignored, {@link dev.vmm.virtio.VirtioDevice#writeConfig}'s default.
     */
    @Override
    public long readConfig(int offset, int size) {
        byte[] c = new byte[CONFIG_SIZE];
        byte[] m = mac.bytes();
        System.arraycopy(m, 0, c, 0, 6);
        MemorySegment s = MemorySegment.ofArray(c);
        s.set(ValueLayout.JAVA_SHORT_UNALIGNED, 6, (short) (linkUp ? S_LINK_UP : 0));
        s.set(ValueLayout.JAVA_SHORT_UNALIGNED, 8, (short) pairs);
        s.set(ValueLayout.JAVA_SHORT_UNALIGNED, 10, (short) mtu);
        return dev.vmm.virtio.ConfigSpace.read(c, offset, size);
    }

    @Override
    public synchronized void activate(GuestMemory memory, long negotiatedFeatures, List<SplitQueue> queues,
                                      VirtioInterrupt interrupt) throws ActivationException {
        checkActivation(queues, control != null || workers[0] != null);
        boolean mq = (negotiatedFeatures & VIRTIO_NET_F_MQ) != 0;
        int usable = mq ? pairs : 1;
        int ctrlIndex = mq ? 2 * pairs : 2;
        this.negotiated = negotiatedFeatures;
        this.interrupt = interrupt;
        if (!queues.get(0).isReady() || !queues.get(1).isReady()) {
            throw new ActivationException("virtio-net: receiveq0 and transmitq0 must be set up");
        }
        long guest = guestOffloads >= 0 ? guestOffloads & negotiatedFeatures : negotiatedFeatures & GUEST_OFFLOADS;
        int off = tunOffloads(guest);
        if (!tap.setOffload(off)) log.accept("virtio-net: tap " + tap.name() + " refused offloads 0x" + Integer.toHexString(off));
        try {
            // Only pair 0 carries traffic until the driver sets more with VQ_PAIRS_SET (§5.1.6.5.5);
            // a restored (or quiesced and continuing) device keeps the count the driver had set.
            int inService = Math.max(1, Math.min(activePairs, usable));
            for (int i = 0; i < pairs; i++) tap.setQueueEnabled(i, i < inService);
            for (int i = 0; i < usable; i++) {
                SplitQueue rx = queues.get(2 * i), tx = queues.get(2 * i + 1);
                if (!rx.isReady() && !tx.isReady()) continue;
                IoThread t = threadFor(i);
                NetQueuePair w = new NetQueuePair(this, i, rx.isReady() ? rx : null, tx.isReady() ? tx : null, memory, t,
                        interrupt, kicks.fd(2 * i), kicks.fd(2 * i + 1), tap.fd(i), negotiatedFeatures, stats[i], i < inService);
                workers[i] = w;
                t.runAndWait(w::start);
            }
            if ((negotiatedFeatures & VIRTIO_NET_F_CTRL_VQ) != 0 && queues.get(ctrlIndex).isReady()) {
                IoThread t = threads.get(0);
                control = new NetControl(this, ctrlIndex, queues.get(ctrlIndex), t, interrupt, kicks.fd(ctrlIndex),
                        negotiatedFeatures, usable);
                t.runAndWait(control::start);
            }
        } catch (RuntimeException e) {
            reset();
            throw new ActivationException("virtio-net: " + e.getMessage(), e);
        }
    }

    /** TUN_F_* for a set of negotiated guest offload features (TSO/UFO only with checksum, as tun requires). */
    static int tunOffloads(long guest) {
        if ((guest & VIRTIO_NET_F_GUEST_CSUM) == 0) return 0;
        int f = TunIoctls.TUN_F_CSUM;
        if ((guest & VIRTIO_NET_F_GUEST_TSO4) != 0) f |= TunIoctls.TUN_F_TSO4;
        if ((guest & VIRTIO_NET_F_GUEST_TSO6) != 0) f |= TunIoctls.TUN_F_TSO6;
        if ((guest & VIRTIO_NET_F_GUEST_ECN) != 0 && (f & (TunIoctls.TUN_F_TSO4 | TunIoctls.TUN_F_TSO6)) != 0) f |= TunIoctls.TUN_F_TSO_ECN;
        if ((guest & VIRTIO_NET_F_GUEST_UFO) != 0) f |= TunIoctls.TUN_F_UFO;
        return f;
    }

    @Override
    public synchronized void reset() {
        stopQueues("reset");
        mac = initialMac;
        filter = RxFilter.initial(initialMac);
        activePairs = 1;
        guestOffloads = -1;
    }

    /**
     * Stops every pair and the control queue on their threads and returns, per virtqueue, the
     * chains they held (see {@link NetQueuePair#stop()}). The driver-set state (MAC, filter,
     * pairs in service, offloads, link) is left as it is.
     */
    private int[] stopQueues(String why) {
        int[] held = new int[queueCount()];
        List<CompletableFuture<int[]>> stops = new ArrayList<>();
        List<Integer> pairOf = new ArrayList<>();
        if (control != null) {
            stops.add(control.stop());
            pairOf.add(-1);
        }
        for (int i = 0; i < pairs; i++) {
            if (workers[i] == null) continue;
            stops.add(workers[i].stop());
            pairOf.add(i);
        }
        List<int[]> got = why.equals("quiesce")
                ? awaitDrained(stops, "virtio-net: a queue did not stop within 30 s; cannot save the device state")
                : awaitStopped(stops, why, "stop");
        for (int k = 0; k < stops.size(); k++) {
            int[] h = got.get(k);
            int p = pairOf.get(k);
            if (h != null && p >= 0) {
                held[2 * p] = h[0];
                held[2 * p + 1] = h[1];
            }
        }
        control = null;
        java.util.Arrays.fill(workers, null);
        interrupt = null;
        kicks.forget(); // kicks of the old queues
        return held;
    }

    // ---- saved state (MigratableDevice) -------------------------------------------------------

    @Override
    public int stateVersion() { return 1; }

    /**
     * Stops TX and RX on every pair's thread at a chain boundary (a transmit is one synchronous
     * writev, so the frames already popped are on the tap) and gives back what was popped but not
     * used: the receive buffers waiting in each pair's FIFO for a frame, and a transmit chain held
     * back because the tap was full. Frames the tap still queues for the guest stay there (on a
     * snapshot they are lost with the tap, as on a real link; the guest's stack retransmits).
     */
    @Override
    public synchronized int[] quiesce() {
        return stopQueues("quiesce");
    }

    /**
     * What the driver changed plus the shape of the device, so a destination started with other
     * {@code --net} options is refused: queue pairs, the command line's MAC, the MTU; then the
     * current MAC, link status, pairs in service, guest offloads and the RX filter (flags, tables).
     */
    @Override
    public byte[] saveState() {
        RxFilter f = filter;
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try (java.io.DataOutputStream o = new java.io.DataOutputStream(bytes)) {
            o.writeInt(pairs);
            o.writeLong(initialMac.value());
            o.writeInt(mtu);
            o.writeLong(mac.value());
            o.writeBoolean(linkUp);
            o.writeInt(activePairs);
            o.writeLong(guestOffloads);
            o.writeBoolean(f.promisc());
            o.writeBoolean(f.allMulti());
            for (java.util.Set<Long> table : List.of(f.unicast(), f.multicast())) {
                o.writeInt(table.size());
                for (long m : table) o.writeLong(m);
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    @Override
    public synchronized void loadState(int version, byte[] state) {
        if (version != 1) throw new IllegalArgumentException("virtio-net: saved state version " + version + ", this vmm reads 1");
        if (control != null || workers[0] != null) throw new IllegalStateException("virtio-net: state loaded into an active device");
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(state);
        try {
            int savedPairs = b.getInt();
            MacAddress savedInitial = new MacAddress(b.getLong());
            int savedMtu = b.getInt();
            if (savedPairs != pairs) {
                throw new IllegalArgumentException("virtio-net: the saved device has " + savedPairs + " queue pairs, this one "
                        + pairs + " (start the destination with the same --net queues)");
            }
            if (!savedInitial.equals(initialMac)) {
                throw new IllegalArgumentException("virtio-net: the saved device has MAC " + savedInitial + ", this one "
                        + initialMac + " (start the destination with the same --net mac)");
            }
            if (savedMtu != mtu) {
                throw new IllegalArgumentException("virtio-net: the saved device has MTU " + savedMtu + ", this one " + mtu
                        + " (the destination's tap has another MTU)");
            }
            MacAddress current = new MacAddress(b.getLong());
            boolean link = b.get() != 0;
            int inService = b.getInt();
            long offloads = b.getLong();
            boolean promisc = b.get() != 0, allMulti = b.get() != 0;
            List<java.util.Set<Long>> tables = new ArrayList<>();
            for (int t = 0; t < 2; t++) {
                int n = b.getInt();
                if (n < 0 || n > b.remaining() / 8) throw new IllegalArgumentException("virtio-net: malformed saved state (MAC table of " + n + ")");
                java.util.Set<Long> set = new java.util.HashSet<>();
                for (int i = 0; i < n; i++) set.add(b.getLong());
                tables.add(set);
            }
            if (b.hasRemaining()) throw new IllegalArgumentException("virtio-net: malformed saved state (" + b.remaining() + " trailing bytes)");
            if (inService < 1 || inService > pairs) throw new IllegalArgumentException("virtio-net: saved state has " + inService + " pairs in service of " + pairs);
            if (offloads != -1 && (offloads & ~GUEST_OFFLOADS) != 0) {
                throw new IllegalArgumentException("virtio-net: saved guest offloads 0x" + Long.toHexString(offloads) + " are not offloads");
            }
            mac = current;
            filter = new RxFilter(current, promisc, allMulti, java.util.Set.copyOf(tables.get(0)), java.util.Set.copyOf(tables.get(1)));
            linkUp = link;
            activePairs = inService;
            guestOffloads = offloads;
        } catch (java.nio.BufferUnderflowException e) {
            throw new IllegalArgumentException("virtio-net: malformed saved state (" + state.length + " bytes, too short)");
        }
    }

    // ---- for the VMM -------------------------------------------------------------------------

    /** Number of queue pairs (= tap queues). */
    public int queuePairs() { return pairs; }

    /**
     * The vCPU whose interrupts queue {@code queueIndex} should target (its MSI-X affinity hint):
     * pair {@code i} belongs to vCPU {@code i}; the control queue to vCPU 0.
     */
    public int affinityVcpu(int queueIndex) {
        return queueIndex >= 2 * pairs ? 0 : queueIndex / 2;
    }

    public NetQueueStats stats(int pair) { return stats[pair]; }

    public String statsSummary(String name) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < pairs; i++) sb.append(name).append(" pair ").append(i).append(": ").append(stats[i].summary()).append('\n');
        return sb.toString();
    }

    /** The current MAC (changed by the driver's MAC_ADDR_SET). */
    public MacAddress mac() { return mac; }

    public RxFilter rxFilter() { return filter; }

    /** Sets the link status bit and, if the driver negotiated STATUS, tells it (config interrupt). */
    public void setLinkUp(boolean up) {
        if (linkUp == up) return;
        linkUp = up;
        VirtioInterrupt irq = interrupt;
        if (irq != null && (negotiated & VIRTIO_NET_F_STATUS) != 0) irq.signalConfigChange();
    }

    public boolean linkUp() { return linkUp; }

    // ---- for the queue workers and the control queue ---------------------------------------------

    Tap tap() { return tap; }

    int mtu() { return mtu; }

    void setMac(MacAddress m) {
        mac = m;
        filter = filter.withMac(m);
    }

    void setFilter(RxFilter f) { filter = f; }

    RxFilter filter() { return filter; }

    /** GUEST_OFFLOADS_SET (already checked against the negotiated offloads): the tap's, remembered for a save. */
    boolean setGuestOffloads(long want) {
        if (!tap.setOffload(tunOffloads(want))) return false;
        guestOffloads = want;
        return true;
    }

    /** Switches the tap queues and workers to {@code n} active pairs (control path; 1..N already checked). */
    void setActivePairs(int n) {
        activePairs = n;
        for (int i = 0; i < n; i++) tap.setQueueEnabled(i, true);
        for (int i = n; i < pairs; i++) tap.setQueueEnabled(i, false);
        for (int i = 0; i < pairs; i++) {
            NetQueuePair w = workers[i];
            if (w != null) w.setActive(i < n);
        }
    }

    void log(String msg) { log.accept(msg); }
}
