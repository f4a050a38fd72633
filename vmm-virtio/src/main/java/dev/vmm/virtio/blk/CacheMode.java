package dev.vmm.virtio.blk;

/**
 * How the host page cache is used for a disk image (QEMU's {@code cache=} names).
 *
 * <ul>
 *   <li>{@link #WRITEBACK}: buffered I/O; the guest sees a volatile write cache (FLUSH offered),
 *       and a FLUSH request becomes {@code fdatasync}.</li>
 *   <li>{@link #WRITETHROUGH}: {@code O_DSYNC}; every write is durable when it completes, so FLUSH
 *       is not offered (and a FLUSH request completes at once).</li>
 *   <li>{@link #NONE}: {@code O_DIRECT} (bypasses the host page cache); the disk's own cache is
 *       still volatile, so FLUSH is offered and becomes {@code fdatasync}. Misaligned guest
 *       buffers go through an aligned bounce buffer.</li>
 * </ul>
 */
public enum CacheMode {
    WRITEBACK, WRITETHROUGH, NONE;

    /** Parses {@code none|writeback|writethrough} (case-insensitive). */
    public static CacheMode parse(String s) {
        return switch (s.toLowerCase(java.util.Locale.ROOT)) {
            case "none", "direct" -> NONE;
            case "writeback" -> WRITEBACK;
            case "writethrough" -> WRITETHROUGH;
            default -> throw new IllegalArgumentException("cache mode '" + s + "': expected none, writeback or writethrough");
        };
    }
}
