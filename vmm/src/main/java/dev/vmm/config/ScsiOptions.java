package dev.vmm.config;

import dev.vmm.virtio.scsi.ScsiConfig;

import dev.vmm.virtio.blk.CacheMode;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * One {@code --scsi path=FILE[,format=raw|qcow2|vhdx|vpc][,readonly=on][,queues=N][,serial=ID]
 * [,block_size=512|4096][,discard=unmap|ignore][,cache=writeback|none|writethrough][,aio=io_uring|threads]} option. Every {@code --scsi} adds one disk to the
 * machine's single virtio-scsi controller, as the next LUN (the first is LUN 0); {@code queues},
 * if given on several disks, must agree ({@link #controllerQueues}).
 *
 * @param format null: probe the image
 * @param queues null: not given (default: one per vCPU)
 * @param serial null: {@code vmm-scsi-<lun>}
 * @param cache  how a raw image's READ/WRITE data path (io_uring) uses the host page cache (QEMU's
 *               names; default writeback); the other formats always go through the page cache
 * @param uring  raw images: READ/WRITE through io_uring ({@code aio=io_uring}, the default) rather
 *               than on the worker pool with every other command ({@code aio=threads})
 */
public record ScsiOptions(Path disk, String format, boolean readOnly, Integer queues, String serial, int blockSize, boolean discard,
                          CacheMode cache, boolean uring) {
    private static final Set<String> FORMATS = Set.of("raw", "qcow2", "vhdx", "vpc");

    static final Set<String> KEYS = Set.of("path", "disk", "format", "readonly", "queues", "serial", "block_size",
            "discard", "cache", "aio");

    /** Parses one option value; errors are one line starting with {@code --scsi}. */
    public static ScsiOptions parse(String text) {
        KeyValueOptions o = KeyValueOptions.parse("--scsi", text == null ? "" : text, null, KEYS);
        // path= as for --disk; disk= is the older spelling of the same key.
        if (o.has("path") && o.has("disk")) throw new ConfigException("--scsi: path= given twice (disk= is the same key)");
        Path disk = Path.of(o.required(o.has("disk") ? "disk" : "path"));
        String format = o.choice("format", null, FORMATS);
        boolean ro = o.bool("readonly", false);
        Integer queues = o.has("queues") ? (int) o.number("queues", 0, 1, ScsiConfig.MAX_QUEUES) : null;
        String serial = o.string("serial", null);
        if (serial != null && (serial.isEmpty() || serial.length() > 64 || !serial.chars().allMatch(c -> c > 0x20 && c < 0x7F))) {
            throw new ConfigException("--scsi: serial must be 1-64 printable ASCII characters without spaces");
        }
        int bs = (int) o.number("block_size", 512, 512, 4096);
        if (bs != 512 && bs != 4096) throw new ConfigException("--scsi: block_size=" + bs + " is not one of 512|4096");
        boolean discard = switch (o.choice("discard", "unmap", Set.of("unmap", "on", "ignore", "off"))) {
            case "unmap", "on" -> true;
            default -> false;
        };
        CacheMode cache = switch (o.choice("cache", "writeback", Set.of("writeback", "none", "writethrough"))) {
            case "none" -> CacheMode.NONE;
            case "writethrough" -> CacheMode.WRITETHROUGH;
            default -> CacheMode.WRITEBACK;
        };
        boolean uring = o.choice("aio", "io_uring", Set.of("io_uring", "threads")).equals("io_uring");
        if (!uring && cache != CacheMode.WRITEBACK) {
            throw new ConfigException("--scsi: cache=" + cache.name().toLowerCase() + " needs aio=io_uring (the block layer uses the page cache)");
        }
        return new ScsiOptions(disk, format, ro, queues, serial, bs, discard, cache, uring);
    }

    /** The serial of this disk as LUN {@code lun}. */
    public String serialFor(int lun) {
        return serial != null ? serial : "vmm-scsi-" + lun;
    }

    /** The controller's request queue count: the {@code queues=} the disks agree on, else {@code vcpus}. */
    public static int controllerQueues(List<ScsiOptions> disks, int vcpus) {
        Integer q = null;
        for (ScsiOptions d : disks) {
            if (d.queues() == null) continue;
            if (q != null && !q.equals(d.queues())) {
                throw new ConfigException("--scsi: queues=" + q + " and queues=" + d.queues()
                        + " disagree (all --scsi disks share one controller)");
            }
            q = d.queues();
        }
        return q != null ? q : Math.max(1, Math.min(vcpus, ScsiConfig.MAX_QUEUES));
    }
}
