package dev.vmm.block.nbd;

import dev.vmm.block.BlockDevice;

import static dev.vmm.block.nbd.NbdConstants.*;

/**
 * What a server exports: one disk under one name.
 *
 * @param discard         NBD_CMD_TRIM (and write-zeroes without NO_HOLE) may release storage;
 *                        otherwise trims are accepted and ignored, as qemu-nbd without --discard=unmap
 * @param allocationDepth offer the {@code qemu:allocation-depth} metadata context
 * @param writeThrough    every write is flushed before it is acknowledged (--cache=writethrough)
 * @param flushes         NBD_CMD_FLUSH reaches the disk (false: --cache=unsafe)
 */
public record NbdExport(String name, String description, BlockDevice device, boolean readOnly, boolean discard,
                        boolean allocationDepth, boolean writeThrough, boolean flushes) {

    public static NbdExport of(String name, BlockDevice device) {
        return new NbdExport(name, null, device, device.readOnly(), false, false, false, true);
    }

    public NbdExport {
        if (name == null) name = "";
        readOnly = readOnly || device.readOnly();
    }

    /**
     * Transmission flags. Multi-conn is safe to advertise: every connection shares this one
     * {@link BlockDevice} in this process, so a flush on any connection covers the writes completed on all.
     */
    public int transmissionFlags() {
        int f = FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_FUA | FLAG_SEND_DF | FLAG_CAN_MULTI_CONN | FLAG_SEND_CACHE;
        if (readOnly) f |= FLAG_READ_ONLY;
        else f |= FLAG_SEND_TRIM | FLAG_SEND_WRITE_ZEROES | FLAG_SEND_FAST_ZERO;
        return f;
    }
}
