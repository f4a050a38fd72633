package dev.vmm.machine;

import dev.vmm.config.DiskSpec;
import dev.vmm.virtio.blk.ThrottleGroup;
import dev.vmm.virtio.pci.VirtioPciDevice;

/**
 * A virtio-blk disk of a running machine as the control socket sees it: its QMP name, what it
 * was opened from, and its I/O limits (a {@link ThrottleGroup} exists for every disk so that limits
 * can be set at run time; it costs nothing while no limit is set).
 *
 * @param id     the drive name QMP commands take ({@code --disk id=...}, default {@code virtioN} as
 *               QEMU names {@code -drive if=virtio} drives)
 * @param format image format name ({@code raw}, {@code qcow2}, ...)
 * @param size   virtual size in bytes
 */
public record BlockDrive(String id, DiskSpec spec, String format, long size, ThrottleGroup throttle, VirtioPciDevice pci) {
}
