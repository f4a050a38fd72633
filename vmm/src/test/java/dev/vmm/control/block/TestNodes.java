package dev.vmm.control.block;

import dev.vmm.block.BlockDevice;
import dev.vmm.control.QmpServer.QmpException;

import java.nio.file.Path;

/** Adds block nodes without QMP, for tests of the devices that use them. */
public final class TestNodes {
    private TestNodes() {}

    /** A raw read-write node {@code name} over {@code image} (already opened). */
    public static void add(BlockNodes nodes, String name, Path image, BlockDevice device) throws QmpException {
        nodes.add(new BlockNode(name, image, "raw", false, true, false, false, device));
    }
}
