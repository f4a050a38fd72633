package dev.vmm.virtio.net.tap;

import dev.vmm.ffm.libc.Libc;
import dev.vmm.ffm.net.TunIoctls;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static dev.vmm.ffm.libc.Errno.*;
import static dev.vmm.ffm.net.TunIoctls.*;

/**
 * A Linux tap interface opened through {@code /dev/net/tun}: one non-blocking file descriptor per
 * queue ({@code IFF_TAP | IFF_NO_PI | IFF_VNET_HDR}, plus {@code IFF_MULTI_QUEUE} when more than one
 * queue is asked for), each carrying a 12-byte virtio-net header in front of every frame. The
 * interface is created if it does not exist (and then disappears when the last fd closes: it is
 * not made persistent), or attached to if it does (a tap made with
 * {@code ip tuntap add NAME mode tap [multi_queue] user USER} needs no privilege).
 *
 * <p>Interface settings (up, MTU, bridge port) go through socket ioctls on an AF_INET datagram
 * socket (SIOCSIFFLAGS, SIOCSIFMTU, SIOCBRADDIF): no dependency on iproute2.
 *
 * <p>Thread-safety: the fds may be read/written from different threads (one per queue); the
 * configuration methods are for the VMM's set-up and the control path and are safe to call from
 * any one thread at a time.
 */
public final class Tap implements AutoCloseable {
    /** Size of {@code struct virtio_net_hdr_v1} (with num_buffers): the header tap reads and writes. */
    public static final int VNET_HDR_SIZE = 12;
    /** The kernel's limit on tap queues (MAX_TAP_QUEUES). */
    public static final int MAX_QUEUES = 256;

    private final String name;
    private final int[] fds;
    private final boolean created;
    private boolean closed;

    private Tap(String name, int[] fds, boolean created) {
        this.name = name;
        this.fds = fds;
        this.created = created;
    }

    /**
     * Opens (creates or attaches) tap {@code name} with {@code queues} queues, sets its MTU (0 = keep
     * it), adds it to {@code bridge} (null = none) and brings it up if it was created here. Closes it
     * again on failure, so a tap created for a run that cannot start does not stay behind.
     *
     * @throws TapException one line for the user
     */
    public static Tap open(String name, int queues, int mtu, String bridge) {
        Tap t = open(name, queues);
        try {
            if (mtu > 0 && t.mtu() != mtu) t.setMtu(mtu);
            if (bridge != null) t.attachToBridge(bridge);
            if (t.created()) t.bringUp();
            return t;
        } catch (RuntimeException e) {
            t.close();
            throw e;
        }
    }

    /**
     * Creates tap {@code name} with {@code queues} queues, or attaches to the existing one.
     *
     * @throws TapException with one line naming the problem (no /dev/net/tun, no permission, name
     *                      taken by a non-tap interface, flags of an existing tap that differ, ...)
     */
    public static Tap open(String name, int queues) {
        validateName(name, "tap");
        // After --run-as/--chroot: one clear line (QMP error, or the CLI's) instead of EPERM from TUNSETIFF.
        if (dev.vmm.sandbox.PrivilegeDrop.droppedTo() != null) {
            throw new TapException("tap " + name + ": opening a tap needs privileges this process gave up (now "
                    + dev.vmm.sandbox.PrivilegeDrop.droppedTo() + "); create taps before privileges are dropped");
        }
        if (queues < 1 || queues > MAX_QUEUES) throw new TapException("tap " + name + ": queues must be 1.." + MAX_QUEUES + ", not " + queues);
        boolean existed = Files.exists(Path.of("/sys/class/net", name));
        int flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (queues > 1 ? IFF_MULTI_QUEUE : 0);
        int[] fds = new int[queues];
        int opened = 0;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ifr = a.allocate(IFREQ);
            MemorySegment hdr = a.allocate(ValueLayout.JAVA_INT);
            hdr.set(ValueLayout.JAVA_INT, 0, VNET_HDR_SIZE);
            for (int q = 0; q < queues; q++) {
                int fd = openTun();
                fds[opened++] = fd;
                ifr.fill((byte) 0);
                putName(ifr, name);
                ifr.set(ValueLayout.JAVA_SHORT, IFR_UNION_OFFSET, (short) flags);
                int r = Libc.ioctlRaw(fd, TUNSETIFF, ifr);
                if (r < 0) throw new TapException(setIffMessage(name, queues, existed, -r));
                r = Libc.ioctlRaw(fd, TUNSETVNETHDRSZ, hdr);
                if (r < 0) throw new TapException("tap " + name + ": TUNSETVNETHDRSZ " + VNET_HDR_SIZE + " failed: " + Libc.strerror(-r));
            }
        } catch (RuntimeException e) {
            for (int i = 0; i < opened; i++) Libc.close(fds[i]);
            throw e;
        }
        return new Tap(name, fds, !existed);
    }

    /**
     * A tap someone else opened and passed to this process (QMP {@code getfd} + {@code netdev_add
     * "fd"/"fds"}, libvirt's way): one fd per queue. Each must be a tap ({@code TUNGETIFF}; QEMU
     * 7.2's message when it is not) without packet info and with virtio-net headers (libvirt opens
     * taps so), all of the same interface; they are made non-blocking and given the header size.
     * On success the Tap owns the fds (closing it closes them); on failure the caller still does.
     *
     * @throws TapException one line for the QMP client
     */
    public static Tap adopt(int[] fds) {
        if (fds.length < 1 || fds.length > MAX_QUEUES) throw new TapException("1.." + MAX_QUEUES + " tap fds, not " + fds.length);
        String name = null;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment hdr = a.allocate(ValueLayout.JAVA_INT);
            hdr.set(ValueLayout.JAVA_INT, 0, VNET_HDR_SIZE);
            for (int fd : fds) {
                String n = probe(fd);
                if (name != null && !name.equals(n)) throw new TapException("the tap fds belong to different interfaces (" + name + ", " + n + ")");
                name = n;
                int r = Libc.ioctlRaw(fd, TUNSETVNETHDRSZ, hdr);
                if (r < 0) throw new TapException("tap " + n + ": TUNSETVNETHDRSZ " + VNET_HDR_SIZE + " failed: " + Libc.strerror(-r));
                Libc.fcntl(fd, Libc.F_SETFL, Libc.fcntl(fd, Libc.F_GETFL, 0) | Libc.O_NONBLOCK);
            }
        }
        return new Tap(name, fds.clone(), false);
    }

    /**
     * Checks that {@code fd} is a tap {@link #adopt} can use (QEMU 7.2's TUNGETIFF message when it
     * is no tun device at all) and returns its interface name.
     */
    public static String probe(int fd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ifr = a.allocate(IFREQ);
            int r = Libc.ioctlRaw(fd, TUNGETIFF, ifr);
            if (r < 0) throw new TapException("Unable to query TUNGETIFF on FD " + fd + ": " + Libc.strerror(-r));
            int flags = ifr.get(ValueLayout.JAVA_SHORT, IFR_UNION_OFFSET) & 0xffff;
            String n = ifr.getString(0, StandardCharsets.US_ASCII);
            if ((flags & IFF_TAP) == 0) throw new TapException("fd " + fd + " is " + n + ", a tun (layer 3) device, not a tap");
            if ((flags & IFF_VNET_HDR) == 0 || (flags & IFF_NO_PI) == 0) {
                throw new TapException("tap " + n + " (fd " + fd + ") was opened without vnet_hdr or with packet info: vmm needs IFF_VNET_HDR|IFF_NO_PI");
            }
            return n;
        }
    }

    private static int openTun() {
        try {
            // Libc.open throws with errno; map the cases a user can act on to one line.
            return Libc.open("/dev/net/tun", Libc.O_RDWR | Libc.O_NONBLOCK | Libc.O_CLOEXEC, 0);
        } catch (dev.vmm.ffm.NativeException e) {
            if (e.errno() == ENOENT || e.errno() == ENODEV) {
                throw new TapException("/dev/net/tun does not exist (load the tun module: modprobe tun)");
            }
            if (e.errno() == EACCES || e.errno() == EPERM) {
                throw new TapException("no permission to open /dev/net/tun (run as root or give the user access to it)");
            }
            throw new TapException("cannot open /dev/net/tun: " + Libc.strerror(e.errno()));
        }
    }

    private static String setIffMessage(String name, int queues, boolean existed, int errno) {
        String mq = queues > 1 ? "multi_queue " : "";
        return switch (errno) {
            case EPERM, EACCES -> existed
                    ? "tap " + name + ": not allowed to attach (it belongs to another user; recreate it with `ip tuntap add "
                        + name + " mode tap " + mq + "user $USER`)"
                    : "tap " + name + ": not allowed to create it (needs CAP_NET_ADMIN; or create it beforehand with `ip tuntap add "
                        + name + " mode tap " + mq + "user $USER`)";
            case EINVAL -> existed
                    ? "tap " + name + ": the existing interface is not a tap with matching flags ("
                        + (queues > 1 ? "queues=" + queues + " needs a multi_queue tap" : "queues=1 needs a tap without multi_queue") + ")"
                    : "tap " + name + ": the kernel refused the tap flags (" + Libc.strerror(errno) + ")";
            case EBUSY -> "tap " + name + ": in use by another process (all its queues are taken)";
            case EEXIST -> "tap " + name + ": an interface of that name exists and is not a tap";
            default -> "tap " + name + ": TUNSETIFF failed: " + Libc.strerror(errno);
        };
    }

    public String name() { return name; }

    public int queues() { return fds.length; }

    /** The fd of queue {@code q} (non-blocking; reads and writes carry a 12-byte vnet header). */
    public int fd(int q) { return fds[q]; }

    /** Whether the interface was created by {@link #open} (rather than attached to). */
    public boolean created() { return created; }

    // ---- offloads and queues -----------------------------------------------------------------

    /**
     * TUNSETOFFLOAD: the offloads ({@code TUN_F_*}) the reader of the tap — the guest — accepts in
     * frames it receives. Returns false (and changes nothing) if the kernel refuses the set.
     */
    public boolean setOffload(int tunFlags) {
        return Libc.ioctlRaw(fds[0], TUNSETOFFLOAD, tunFlags) >= 0;
    }

    /** Which of {@code candidates} (TUN_F_* bits) the kernel accepts, each tried with CSUM; leaves offloads off. */
    public int probeOffloads(int candidates) {
        int ok = 0;
        if ((candidates & TUN_F_CSUM) != 0 && setOffload(TUN_F_CSUM)) {
            ok |= TUN_F_CSUM;
            for (int bit : new int[] {TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN, TUN_F_UFO}) {
                int extra = bit == TUN_F_TSO_ECN ? TUN_F_TSO4 : 0;
                if ((candidates & bit) != 0 && setOffload(TUN_F_CSUM | extra | bit)) ok |= bit;
            }
        }
        setOffload(0);
        return ok;
    }

    /**
     * Attaches ({@code true}) or detaches queue {@code q} (TUNSETQUEUE): a detached queue gets no
     * frames and its writes fail, which is how inactive virtio-net queue pairs are parked.
     * Idempotent. Only meaningful for a multi-queue tap.
     */
    public void setQueueEnabled(int q, boolean enabled) {
        if (fds.length == 1) return;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ifr = a.allocate(IFREQ);
            ifr.set(ValueLayout.JAVA_SHORT, IFR_UNION_OFFSET, (short) (enabled ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE));
            int r = Libc.ioctlRaw(fds[q], TUNSETQUEUE, ifr);
            // EINVAL: already in the wanted state (attaching an attached queue / detaching a detached one).
            if (r < 0 && -r != EINVAL) {
                throw new TapException("tap " + name + ": " + (enabled ? "attaching" : "detaching") + " queue " + q + ": " + Libc.strerror(-r));
            }
        }
    }

    // ---- interface settings (socket ioctls) -----------------------------------------------------

    /** Sets IFF_UP on the interface. */
    public void bringUp() {
        withSocket(s -> {
            MemorySegment ifr = ifreq(s.arena, name);
            ioctlOrThrow(s.fd, SIOCGIFFLAGS, ifr, "reading the flags of " + name);
            short f = ifr.get(ValueLayout.JAVA_SHORT, IFR_UNION_OFFSET);
            ifr.set(ValueLayout.JAVA_SHORT, IFR_UNION_OFFSET, (short) (f | IFF_UP));
            ioctlOrThrow(s.fd, SIOCSIFFLAGS, ifr, "bringing " + name + " up");
        });
    }

    /** Whether the interface is administratively up. */
    public boolean isUp() {
        boolean[] up = new boolean[1];
        withSocket(s -> {
            MemorySegment ifr = ifreq(s.arena, name);
            ioctlOrThrow(s.fd, SIOCGIFFLAGS, ifr, "reading the flags of " + name);
            up[0] = (ifr.get(ValueLayout.JAVA_SHORT, IFR_UNION_OFFSET) & IFF_UP) != 0;
        });
        return up[0];
    }

    /** The interface MTU. */
    public int mtu() {
        int[] mtu = new int[1];
        withSocket(s -> {
            MemorySegment ifr = ifreq(s.arena, name);
            ioctlOrThrow(s.fd, SIOCGIFMTU, ifr, "reading the MTU of " + name);
            mtu[0] = ifr.get(ValueLayout.JAVA_INT, IFR_UNION_OFFSET);
        });
        return mtu[0];
    }

    public void setMtu(int mtu) {
        withSocket(s -> {
            MemorySegment ifr = ifreq(s.arena, name);
            ifr.set(ValueLayout.JAVA_INT, IFR_UNION_OFFSET, mtu);
            ioctlOrThrow(s.fd, SIOCSIFMTU, ifr, "setting the MTU of " + name + " to " + mtu);
        });
    }

    /** Makes the tap a port of Linux bridge {@code bridge} (SIOCBRADDIF). */
    public void attachToBridge(String bridge) {
        validateName(bridge, "bridge");
        withSocket(s -> {
            MemorySegment tap = ifreq(s.arena, name);
            ioctlOrThrow(s.fd, SIOCGIFINDEX, tap, "looking up " + name);
            int index = tap.get(ValueLayout.JAVA_INT, IFR_UNION_OFFSET);
            MemorySegment br = ifreq(s.arena, bridge);
            br.set(ValueLayout.JAVA_INT, IFR_UNION_OFFSET, index);
            int r = Libc.ioctlRaw(s.fd, SIOCBRADDIF, br);
            if (r < 0) {
                int e = -r;
                throw new TapException(switch (e) {
                    case ENODEV -> "bridge " + bridge + " does not exist (create it: ip link add " + bridge + " type bridge)";
                    case EOPNOTSUPP, EINVAL -> "interface " + bridge + " is not a Linux bridge";
                    case EPERM, EACCES -> "not allowed to add " + name + " to bridge " + bridge + " (needs CAP_NET_ADMIN)";
                    case EBUSY -> "tap " + name + " is already a port of another bridge or bond";
                    case ELOOP -> "adding " + name + " to " + bridge + " would make a loop";
                    default -> "adding " + name + " to bridge " + bridge + ": " + Libc.strerror(e);
                });
            }
        });
    }

    private record Sock(int fd, Arena arena) { }

    private void withSocket(java.util.function.Consumer<Sock> body) {
        long fd = Libc.syscallRaw(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0, 0, 0, 0);
        if (fd < 0) throw new TapException("tap " + name + ": cannot open a socket for interface ioctls: " + Libc.strerror((int) -fd));
        try (Arena a = Arena.ofConfined()) {
            body.accept(new Sock((int) fd, a));
        } finally {
            Libc.close((int) fd);
        }
    }

    private void ioctlOrThrow(int fd, long req, MemorySegment ifr, String what) {
        int r = Libc.ioctlRaw(fd, req, ifr);
        if (r < 0) {
            int e = -r;
            if (e == ENODEV) throw new TapException(what + ": no such interface");
            if (e == EPERM || e == EACCES) throw new TapException(what + ": not allowed (needs CAP_NET_ADMIN)");
            throw new TapException(what + ": " + Libc.strerror(e));
        }
    }

    private static MemorySegment ifreq(Arena a, String ifname) {
        MemorySegment ifr = a.allocate(IFREQ);
        putName(ifr, ifname);
        return ifr;
    }

    private static void putName(MemorySegment ifr, String ifname) {
        byte[] b = ifname.getBytes(StandardCharsets.US_ASCII);
        MemorySegment.copy(b, 0, ifr, ValueLayout.JAVA_BYTE, 0, b.length);
    }

    /** Interface names: 1..15 printable ASCII characters, no '/', ':' or white space, not "." or "..". */
    public static void validateName(String n, String what) {
        if (n == null || n.isEmpty() || n.length() >= IFNAMSIZ) {
            throw new TapException(what + " name must be 1.." + (IFNAMSIZ - 1) + " characters: '" + n + "'");
        }
        if (n.equals(".") || n.equals("..")) throw new TapException(what + " name '" + n + "' is not allowed");
        for (int i = 0; i < n.length(); i++) {
            char c = n.charAt(i);
            if (c <= ' ' || c >= 0x7F || c == '/' || c == ':') {
                throw new TapException(what + " name '" + n + "' has a character interfaces cannot have ('" + c + "')");
            }
        }
    }

    /** Closes every queue fd (a tap created here disappears with the last one). */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        for (int fd : fds) Libc.close(fd);
    }
}
