package dev.vmm.ffm.net;

import dev.vmm.ffm.Ioctl;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.util.Map;

/**
 * The tun/tap driver's ioctls and flags ({@code <linux/if_tun.h>}), the network-interface ioctls a
 * VMM needs on a tap ({@code <linux/sockios.h>}, {@code <net/if.h>}) and {@code struct ifreq}. Every
 * public constant is checked against the system headers by {@code TunHeaderProbeTest}.
 */
public final class TunIoctls {
    private TunIoctls() { }

    // ---- tun character device ioctls (on an fd of /dev/net/tun): type 'T', an int argument ----
    private static final int TUN_IOC = 'T';
    private static final int INT = 4;
    public static final long TUNSETIFF = Ioctl.iow(TUN_IOC, 202, INT);
    public static final long TUNSETPERSIST = Ioctl.iow(TUN_IOC, 203, INT);
    public static final long TUNGETFEATURES = Ioctl.ior(TUN_IOC, 207, INT);
    public static final long TUNSETOFFLOAD = Ioctl.iow(TUN_IOC, 208, INT);
    public static final long TUNGETIFF = Ioctl.ior(TUN_IOC, 210, INT);
    public static final long TUNSETVNETHDRSZ = Ioctl.iow(TUN_IOC, 216, INT);
    public static final long TUNSETQUEUE = Ioctl.iow(TUN_IOC, 217, INT);

    // ---- ifr_flags for TUNSETIFF / TUNSETQUEUE ----------------------------------------------
    public static final int IFF_TUN = 0x0001;
    public static final int IFF_TAP = 0x0002;
    public static final int IFF_MULTI_QUEUE = 0x0100;
    public static final int IFF_ATTACH_QUEUE = 0x0200;
    public static final int IFF_DETACH_QUEUE = 0x0400;
    public static final int IFF_NO_PI = 0x1000;
    public static final int IFF_VNET_HDR = 0x4000;

    // ---- TUNSETOFFLOAD bits: what the reader (the guest) can take ---------------------------
    public static final int TUN_F_CSUM = 0x01;
    public static final int TUN_F_TSO4 = 0x02;
    public static final int TUN_F_TSO6 = 0x04;
    public static final int TUN_F_TSO_ECN = 0x08;
    public static final int TUN_F_UFO = 0x10;

    // ---- socket ioctls on interfaces (any AF_INET datagram socket) --------------------------
    public static final long SIOCGIFFLAGS = 0x8913L;
    public static final long SIOCSIFFLAGS = 0x8914L;
    public static final long SIOCGIFMTU = 0x8921L;
    public static final long SIOCSIFMTU = 0x8922L;
    public static final long SIOCGIFINDEX = 0x8933L;
    public static final long SIOCBRADDIF = 0x89a2L;
    public static final long SIOCBRDELIF = 0x89a3L;

    /** Interface flag "administratively up" (net/if.h). */
    public static final int IFF_UP = 0x1;
    /** Interface name buffer size including the NUL. */
    public static final int IFNAMSIZ = 16;

    // ---- sockets (created through syscall(2): libc's socket() is not bound) -----------------
    public static final int AF_INET = 2;
    public static final int SOCK_DGRAM = 2;
    public static final int SOCK_CLOEXEC = 02000000;
    public static final long SYS_socket = 41;

    /** {@code struct ifreq}: name, then a 24-byte union (flags, ifindex and mtu are the members used). */
    public static final StructLayout IFREQ = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(IFNAMSIZ, ValueLayout.JAVA_BYTE).withName("ifr_name"),
            MemoryLayout.unionLayout(
                    ValueLayout.JAVA_SHORT.withName("ifr_flags"),
                    ValueLayout.JAVA_INT.withName("ifr_ifindex"),
                    ValueLayout.JAVA_INT.withName("ifr_mtu"),
                    MemoryLayout.paddingLayout(24)).withName("$ifr_ifru")).withName("ifreq");

    /** Offset of the union members (flags / ifindex / mtu) in {@link #IFREQ}. */
    public static final long IFR_UNION_OFFSET = IFNAMSIZ;

    /** Every public integer constant by name, for the header probe. */
    public static Map<String, Long> all() {
        return dev.vmm.ffm.HeaderFacts.constants(TunIoctls.class, name -> !name.startsWith("IFR_"));
    }
}
