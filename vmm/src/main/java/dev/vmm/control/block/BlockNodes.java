package dev.vmm.control.block;

import dev.vmm.control.Backends;
import dev.vmm.control.QmpServer.QmpException;

/**
 * The block nodes of a running machine, by node name, and which device uses each. A node keeps its
 * image open (and so locked) from {@code blockdev-add} until {@code blockdev-del}; a node a device
 * uses cannot be deleted, and a node serves at most one device (its writer), as in QEMU. A claim
 * names its holder as QEMU's messages do ({@code block device '...'}).
 */
public final class BlockNodes extends Backends<BlockNode> {
    void add(BlockNode node) throws QmpException {
        if (!put(node.name(), node)) {
            node.device().close();
            throw BlockdevCommands.duplicate(node.name());
        }
    }

    /**
     * A second writer refused, in QEMU's words; {@code holder} and {@code requester} are QEMU's
     * names of the two block devices ({@code block device '...'}).
     */
    public static QmpException permissionConflict(String node, String holder, String requester) {
        return QmpException.generic("Permission conflict on node '" + node + "': permissions 'write' are both required by "
                + holder + " (uses node '" + node + "' as 'root' child) and unshared by " + requester
                + " (uses node '" + node + "' as 'root' child).");
    }

    @Override
    protected void close(BlockNode node) {
        node.device().close();
    }

    @Override
    protected QmpException notFound(String name) {
        return QmpException.generic("Failed to find node with node-name='" + name + "'");
    }

    @Override
    protected QmpException inUse(String name, String device) {
        return QmpException.generic("Node " + name + " is in use");
    }
}
