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

    /** Parses one option value; errors are one line starting with {@code --scsi}. */
    public static ScsiOptions parse(String text) {
        Path disk = null;
        String format = null, serial = null;
        boolean ro = false, discard = true;
        CacheMode cache = CacheMode.WRITEBACK;
        boolean uring = true;
        Integer queues = null;
        int bs = 512;
        if (text == null || text.isBlank()) throw new IllegalArgumentException("--scsi needs path=FILE");
        Set<String> seen = new java.util.HashSet<>();
        for (String part : text.split(",")) {
            int eq = part.indexOf('=');
            if (eq <= 0) throw new IllegalArgumentException("--scsi: '" + part + "' is not key=value");
            String key = part.substring(0, eq).trim(), value = part.substring(eq + 1).trim();
            if (!seen.add(key)) throw new IllegalArgumentException("--scsi: " + key + "= given twice");
            switch (key) {
                case "path", "disk" -> { // path= as for --disk; disk= is the older spelling
                    if (disk != null) throw new IllegalArgumentException("--scsi: path= given twice (disk= is the same key)");
                    if (value.isEmpty()) throw new IllegalArgumentException("--scsi: " + key + "= needs a file name");
                    disk = Path.of(value);
                }
                case "format" -> {
                    if (!FORMATS.contains(value)) throw new IllegalArgumentException("--scsi: format must be raw, qcow2, vhdx or vpc, not '" + value + "'");
                    format = value;
                }
                case "readonly" -> ro = onOff(key, value);
                case "queues" -> {
                    int q = number(key, value);
                    if (q < 1 || q > ScsiConfig.MAX_QUEUES) throw new IllegalArgumentException("--scsi: queues must be 1.." + ScsiConfig.MAX_QUEUES + ", not " + q);
                    queues = q;
                }
                case "serial" -> {
                    if (value.isEmpty() || value.length() > 64 || !value.chars().allMatch(c -> c > 0x20 && c < 0x7F)) {
                        throw new IllegalArgumentException("--scsi: serial must be 1-64 printable ASCII characters without spaces");
                    }
                    serial = value;
                }
                case "block_size" -> {
                    bs = number(key, value);
                    if (bs != 512 && bs != 4096) throw new IllegalArgumentException("--scsi: block_size must be 512 or 4096, not " + value);
                }
                case "discard" -> discard = switch (value) {
                    case "unmap", "on" -> true;
                    case "ignore", "off" -> false;
                    default -> throw new IllegalArgumentException("--scsi: discard must be unmap or ignore, not '" + value + "'");
                };
                case "cache" -> cache = switch (value) {
                    case "writeback" -> CacheMode.WRITEBACK;
                    case "none" -> CacheMode.NONE;
                    case "writethrough" -> CacheMode.WRITETHROUGH;
                    default -> throw new IllegalArgumentException("--scsi: cache must be writeback, none or writethrough, not '" + value + "'");
                };
                case "aio" -> uring = switch (value) {
                    case "io_uring" -> true;
                    case "threads" -> false;
                    default -> throw new IllegalArgumentException("--scsi: aio must be io_uring or threads, not '" + value + "'");
                };
                default -> throw new IllegalArgumentException("--scsi: unknown key '" + key
                        + "' (expected path, format, readonly, queues, serial, block_size, discard, cache, aio)");
            }
        }
        if (disk == null) throw new IllegalArgumentException("--scsi needs path=FILE");
        if (!uring && cache != CacheMode.WRITEBACK) {
            throw new IllegalArgumentException("--scsi: cache=" + cache.name().toLowerCase() + " needs aio=io_uring (the block layer uses the page cache)");
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
                throw new IllegalArgumentException("--scsi: queues=" + q + " and queues=" + d.queues()
                        + " disagree (all --scsi disks share one controller)");
            }
            q = d.queues();
        }
        return q != null ? q : Math.max(1, Math.min(vcpus, ScsiConfig.MAX_QUEUES));
    }

    private static boolean onOff(String key, String v) {
        return switch (v) {
            case "on", "true", "yes" -> true;
            case "off", "false", "no" -> false;
            default -> throw new IllegalArgumentException("--scsi: " + key + " must be on or off, not '" + v + "'");
        };
    }

    private static int number(String key, String v) {
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--scsi: " + key + " must be a number, not '" + v + "'");
        }
    }
}
