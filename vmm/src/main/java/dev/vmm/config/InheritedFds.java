package dev.vmm.config;

import dev.vmm.virtio.net.tap.Tap;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;

/**
 * {@code --net fd=N} / {@code fds=N:M...}: descriptor numbers of taps this process inherited. Checked
 * here as QEMU 7.2 checks {@code -netdev tap,fd=}: the options that cannot go with them (an inherited
 * tap is already set up by whoever opened it), then each number. Whether each is open and a tap is
 * checked when the NIC is opened ({@code InheritedTap}).
 *
 * <p>Only the command line takes raw numbers: it comes from whoever started the process. QMP's
 * {@code netdev_add} takes names passed with {@code getfd}, never numbers, so a QMP client cannot
 * reach the VMM's own descriptors (docs/hotplug.md).
 */
final class InheritedFds {
    private InheritedFds() {}

    /** The fds, or null when neither key is given. */
    static List<Integer> parse(KeyValueOptions o) {
        boolean fd = o.has("fd"), fds = o.has("fds");
        if (!fd && !fds) return null;
        if (o.has("tap")) throw new ConfigException("--net: tap= and " + (fd ? "fd=" : "fds=") + " cannot go together (an inherited tap is used as it is)");
        // QEMU 7.2's words for -netdev tap (bridge= and mtu= are this VMM's own keys and set a tap up, as ifname= does)
        if (fd && (o.has("queues") || fds || o.has("bridge") || o.has("mtu"))) {
            throw new ConfigException("--net: bridge=, mtu=, queues=, fds= are invalid with fd=");
        }
        if (fds && (o.has("queues") || o.has("bridge") || o.has("mtu"))) {
            throw new ConfigException("--net: bridge=, mtu=, queues= are invalid with fds=");
        }
        String[] parts = fd ? new String[] {o.required("fd")} : o.required("fds").split(":", -1);
        if (parts.length > Tap.MAX_QUEUES) throw new ConfigException("--net: at most " + Tap.MAX_QUEUES + " tap fds, not " + parts.length);
        List<Integer> out = new ArrayList<>(parts.length);
        HashSet<Integer> seen = new HashSet<>();
        for (String p : parts) {
            int n = number(p);
            if (!seen.add(n)) throw new ConfigException("--net: file descriptor " + n + " is given twice");
            out.add(n);
        }
        return List.copyOf(out);
    }

    private static int number(String p) {
        // QEMU's message; a number that does not fit an int is no fd either
        if (p.isEmpty() || p.length() > 10 || !p.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw new ConfigException("--net: Invalid file descriptor number '" + p + "'");
        }
        long v = Long.parseLong(p);
        if (v > Integer.MAX_VALUE) throw new ConfigException("--net: Invalid file descriptor number '" + p + "'");
        return (int) v;
    }
}
