package dev.vmm.config;

import dev.vmm.virtio.net.MacAddress;

import dev.vmm.virtio.net.tap.Tap;
import dev.vmm.virtio.net.tap.TapException;

/**
 * The {@code --net tap=NAME[,queues=N][,mac=MAC][,bridge=BR][,mtu=BYTES][,queue_size=N][,id=NAME]} option,
 * or {@code --net fd=N} / {@code fds=N:M...} instead of {@code tap=}: taps the process inherited
 * already open, one descriptor per queue pair (QEMU's {@code -netdev tap,fd=N}, the way libvirt starts
 * QEMU when it creates the tap itself); {@code tap} is then null and {@code fds} lists them.
 * {@code id} is the NIC's qdev id (QMP {@code device_del}, {@code query-pci}; issue 15).
 * {@code queues} is the number of queue pairs (0 here = "one per vCPU", resolved by
 * {@link #queuePairs(int)}); {@code mtu} 0 = keep the tap's MTU.
 */
public record NetOptions(String tap, int queues, MacAddress mac, String bridge, int mtu, int queueSize, Integer bootIndex, String id,
                         java.util.List<Integer> fds) implements DeviceSpec {
    public static final int DEFAULT_QUEUE_SIZE = 256;
    public static final int MIN_MTU = 68;
    public static final int MAX_MTU = 65535;

    static final java.util.Set<String> KEYS = java.util.Set.of("tap", "fd", "fds", "queues", "mac", "bridge", "mtu", "queue_size", "bootindex", "id");

    /** Parses the option value; every problem is a one-line {@link ConfigException}. */
    public static NetOptions parse(String text) {
        KeyValueOptions o = KeyValueOptions.parse("--net", text == null ? "" : text, null, KEYS);
        java.util.List<Integer> fds = InheritedFds.parse(o);
        String tap = fds == null ? checkedName(o.required("tap"), "tap") : null;
        String bridge = o.has("bridge") ? checkedName(o.required("bridge"), "bridge") : null;
        int queues = (int) o.number("queues", 0, 1, Tap.MAX_QUEUES);
        int mtu = (int) o.number("mtu", 0, MIN_MTU, MAX_MTU);
        int queueSize = (int) o.number("queue_size", DEFAULT_QUEUE_SIZE, 2, 32768);
        if (Integer.bitCount(queueSize) != 1) throw new ConfigException("--net: queue_size=" + queueSize + " is not a power of two");
        MacAddress mac = null;
        if (o.has("mac")) {
            String value = o.required("mac");
            try {
                mac = MacAddress.parse(value);
            } catch (IllegalArgumentException e) {
                throw new ConfigException("--net: mac: " + e.getMessage());
            }
            if (mac.isMulticast() || mac.isZero()) throw new ConfigException("--net: mac=" + value + " is not a unicast, non-zero address");
        }
        Integer bootIndex = o.has("bootindex") ? (int) o.number("bootindex", 0, 0, 0xFFFF) : null; // firmware boot order (PXE)
        String id = o.string("id", null);
        if (id != null && !id.matches(DiskSpec.ID_PATTERN)) {
            throw new ConfigException("--net: id must start with a letter and have only letters, digits, '-', '.', '_' (at most 64)");
        }
        return new NetOptions(tap, queues, mac, bridge, mtu, queueSize, bootIndex, id, fds);
    }

    private static String checkedName(String v, String what) {
        try {
            Tap.validateName(v, what);
        } catch (TapException e) {
            throw new ConfigException("--net: " + e.getMessage());
        }
        return v;
    }

    /** Queue pairs: one per inherited fd, the option, or one per vCPU (capped at the tap limit). */
    public int queuePairs(int vcpus) {
        if (fds != null) return fds.size();
        return queues > 0 ? queues : Math.max(1, Math.min(vcpus, Tap.MAX_QUEUES));
    }

    /** The MAC: the option, or one derived from the tap name. */
    public MacAddress macOrDerived() {
        return macFor(tap);
    }

    /** The MAC: the option, or one derived from {@code tapName} (an inherited tap's name is known once it is probed). */
    public MacAddress macFor(String tapName) {
        return mac != null ? mac : MacAddress.derivedFrom(tapName);
    }
}
