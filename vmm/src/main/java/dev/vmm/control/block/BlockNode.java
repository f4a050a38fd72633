package dev.vmm.control.block;

import dev.vmm.block.BlockDevice;

import java.nio.file.Path;

/**
 * One block node made by QMP {@code blockdev-add}: an opened image (its lock held) that a device
 * added later uses through {@code drive=NODE}. {@code direct}/{@code noFlush} are QEMU's
 * {@code cache} options, kept for the device that will use the node.
 */
public record BlockNode(String name, Path filename, String driver, boolean readOnly, boolean discard,
                        boolean direct, boolean noFlush, BlockDevice device) {
}
