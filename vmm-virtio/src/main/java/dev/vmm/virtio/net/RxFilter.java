package dev.vmm.virtio.net;

import java.util.Set;

/**
 * The receive filter the driver programs through the control queue (virtio 1.x §5.1.6.5.1-2):
 * promiscuous / all-multicast flags and the unicast and multicast MAC tables. Immutable: the control
 * path publishes a new one, the RX paths of every queue pair read it without locks.
 *
 * <p>The device starts promiscuous (as QEMU does), so a driver that never negotiates CTRL_RX gets
 * every frame the tap delivers.
 */
public record RxFilter(MacAddress mac, boolean promisc, boolean allMulti, Set<Long> unicast, Set<Long> multicast) {
    public static RxFilter initial(MacAddress mac) {
        return new RxFilter(mac, true, false, Set.of(), Set.of());
    }

    /** Whether a frame with destination address {@code dest} (48 bits) goes to the guest. */
    public boolean accepts(long dest) {
        if (promisc) return true;
        if (dest == 0xFFFF_FFFF_FFFFL) return true; // broadcast
        if (((dest >>> 40) & 1) != 0) return allMulti || multicast.contains(dest);
        return dest == mac.value() || unicast.contains(dest);
    }

    public RxFilter withMac(MacAddress m) { return new RxFilter(m, promisc, allMulti, unicast, multicast); }

    public RxFilter withPromisc(boolean on) { return new RxFilter(mac, on, allMulti, unicast, multicast); }

    public RxFilter withAllMulti(boolean on) { return new RxFilter(mac, promisc, on, unicast, multicast); }

    public RxFilter withTables(Set<Long> uc, Set<Long> mc) { return new RxFilter(mac, promisc, allMulti, Set.copyOf(uc), Set.copyOf(mc)); }
}
