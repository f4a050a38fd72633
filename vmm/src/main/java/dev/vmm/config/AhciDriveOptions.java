package dev.vmm.config;

import java.nio.file.Path;
import java.util.Set;

/**
 * One drive on the ICH9 AHCI controller of {@code --machine q35}: an ATA disk from
 * {@code --ahci path=FILE[,format=raw|qcow2|vhdx|vpc][,readonly=on][,discard=unmap|ignore][,cache=writeback][,bootindex=N]}
 * or an ATAPI CD-ROM from {@code --cdrom FILE} (always read-only). Parsing does no I/O.
 *
 * @param format    null: probe the image
 * @param bootIndex null: not given (kept for firmware boot order; direct kernel boot ignores it)
 */
public record AhciDriveOptions(Path path, String format, boolean readOnly, boolean discard, Integer bootIndex, boolean cdrom) {
    private static final Set<String> FORMATS = Set.of("raw", "qcow2", "vhdx", "vpc");
    static final Set<String> KEYS = Set.of("path", "format", "readonly", "discard", "cache", "bootindex");

    /** Parses one {@code --ahci} value; errors are one line starting with {@code --ahci}. */
    public static AhciDriveOptions disk(String text) {
        KeyValueOptions o = KeyValueOptions.parse("--ahci", text == null ? "" : text, null, KEYS);
        Path path = Path.of(o.required("path"));
        String format = o.choice("format", null, FORMATS);
        boolean ro = o.bool("readonly", false);
        boolean discard = switch (o.choice("discard", "ignore", Set.of("unmap", "on", "ignore", "off"))) {
            case "unmap", "on" -> true;
            default -> false;
        };
        // AHCI drives run on the block layer, through the host page cache; cache=none|writethrough
        // (O_DIRECT / O_DSYNC) are not offered there yet, so they are refused rather than ignored.
        String cache = o.choice("cache", "writeback", Set.of("writeback", "none", "writethrough"));
        if (!cache.equals("writeback")) {
            throw new ConfigException("--ahci: cache=" + cache + " is not offered for AHCI drives yet (they use the host page cache: cache=writeback)");
        }
        Integer bootIndex = o.has("bootindex") ? (int) o.number("bootindex", 0, 0, 0xFFFF) : null;
        return new AhciDriveOptions(path, format, ro, discard, bootIndex, false);
    }

    /** {@code --cdrom FILE} or {@code --cdrom path=FILE[,bootindex=N]}: an ATAPI CD-ROM with the (read-only) image FILE. */
    public static AhciDriveOptions cdrom(String file) {
        if (file == null || file.isEmpty()) throw new ConfigException("--cdrom: a FILE is needed");
        if (file.startsWith("path=")) {
            KeyValueOptions o = KeyValueOptions.parse("--cdrom", file, null, Set.of("path", "bootindex"));
            Integer bootIndex = o.has("bootindex") ? (int) o.number("bootindex", 0, 0, 0xFFFF) : null;
            return new AhciDriveOptions(Path.of(o.required("path")), "raw", true, false, bootIndex, true);
        }
        return new AhciDriveOptions(Path.of(file), "raw", true, false, null, true);
    }

    /** The option this drive came from, for messages. */
    public String option() { return cdrom ? "--cdrom" : "--ahci"; }
}
