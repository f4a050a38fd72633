package dev.vmm.config;

import java.nio.file.Path;
import java.util.Set;

/**
 * One {@code --disk} option: {@code path=FILE[,format=raw|qcow2|vhdx|vpc][,readonly=on][,discard=unmap|ignore]
 * [,queues=N][,cache=none|writeback|writethrough][,direct=on][,iops=N][,bps=N][,iops_rd=N][,iops_wr=N]
 * [,bps_rd=N][,bps_wr=N][,burst=SECONDS][,serial=STR][,id=NAME]}. Limits of 0 mean unlimited. {@code id} names the
 * drive for QMP ({@code block_set_io_throttle}, {@code query-block}; null = the default {@code virtioN}) and is
 * the device's qdev id ({@code device_del}, {@code query-pci}; issue 15).
 */
public record DiskSpec(Path path, String format, boolean readOnly, boolean discard, int queues, String cache,
                       boolean direct, Limits limits, String serial, String id, Integer bootIndex) implements DeviceSpec {
    public record Limits(long iops, long bps, long iopsRead, long iopsWrite, long bpsRead, long bpsWrite, long burstSeconds) {
        public boolean any() {
            return iops > 0 || bps > 0 || iopsRead > 0 || iopsWrite > 0 || bpsRead > 0 || bpsWrite > 0;
        }
    }

    /** QEMU's id rule (a letter, then letters, digits, '-', '.', '_'), at most 64 characters. */
    public static final String ID_PATTERN = "[A-Za-z][A-Za-z0-9_.-]{0,63}";

    static final Set<String> KEYS = Set.of("path", "format", "readonly", "discard", "queues", "cache", "direct", "iops",
            "bps", "iops_rd", "iops_wr", "bps_rd", "bps_wr", "burst", "serial", "id", "bootindex");

    /** {@code queues=0} (the default) means one queue per vCPU. */
    public static DiskSpec parse(String text) {
        KeyValueOptions o = KeyValueOptions.parse("--disk", text, "path", KEYS);
        Path path = Path.of(o.required("path"));
        String format = o.choice("format", null, Set.of("raw", "qcow2", "vhdx", "vpc"));
        boolean ro = o.bool("readonly", false);
        boolean discard = "unmap".equals(o.choice("discard", "ignore", Set.of("unmap", "ignore")));
        int queues = (int) o.number("queues", 0, 0, 64);
        String cache = o.choice("cache", "writeback", Set.of("none", "writeback", "writethrough"));
        boolean direct = o.bool("direct", cache.equals("none"));
        long max = Long.MAX_VALUE / 4;
        Limits l = new Limits(o.number("iops", 0, 0, max), o.number("bps", 0, 0, max), o.number("iops_rd", 0, 0, max),
                o.number("iops_wr", 0, 0, max), o.number("bps_rd", 0, 0, max), o.number("bps_wr", 0, 0, max),
                o.number("burst", 1, 1, 3600));
        String serial = o.string("serial", null);
        if (serial != null && serial.length() > 20) throw new ConfigException("--disk: serial is at most 20 characters");
        if ((ro && discard)) throw new ConfigException("--disk: discard=unmap makes no sense on a readonly disk");
        String id = o.string("id", null);
        if (id != null && !id.matches(ID_PATTERN)) {
            throw new ConfigException("--disk: id must start with a letter and have only letters, digits, '-', '.', '_' (at most 64)");
        }
        Integer bootIndex = o.has("bootindex") ? (int) o.number("bootindex", 0, 0, 0xFFFF) : null; // firmware boot order
        return new DiskSpec(path, format, ro, discard, queues, cache, direct, l, serial, id, bootIndex);
    }
}
