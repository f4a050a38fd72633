package dev.vmm.control.block;

import dev.vmm.control.QmpServer.QmpException;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The block nodes of a running machine, by node name, and which device uses each. A node keeps its
 * image open (and so locked) from {@code blockdev-add} until {@code blockdev-del}; a node a device
 * uses cannot be deleted, and a node serves at most one device (its writer), as in QEMU.
 */
public final class BlockNodes {
    private final Map<String, BlockNode> nodes = new LinkedHashMap<>();
    private final Map<String, String> users = new LinkedHashMap<>();

    synchronized void add(BlockNode node) throws QmpException {
        if (nodes.containsKey(node.name())) {
            node.device().close();
            throw BlockdevCommands.duplicate(node.name());
        }
        nodes.put(node.name(), node);
    }

    synchronized boolean contains(String name) {
        return nodes.containsKey(name);
    }

    /** Closes the node's image (its lock is released); refused while a device uses it. */
    synchronized void delete(String name) throws QmpException {
        BlockNode n = nodes.get(name);
        if (n == null) throw QmpException.generic("Failed to find node with node-name='" + name + "'");
        if (users.containsKey(name)) throw QmpException.generic("Node " + name + " is in use");
        nodes.remove(name);
        n.device().close();
    }

    /** The node, or null. */
    public synchronized BlockNode find(String name) {
        return nodes.get(name);
    }

    /** The device using the node, or null. */
    public synchronized String user(String name) {
        return users.get(name);
    }

    /** Marks the node used by {@code device}; false when it is unknown or another device has it. */
    public synchronized boolean claim(String name, String device) {
        if (!nodes.containsKey(name) || users.containsKey(name)) return false;
        users.put(name, device);
        return true;
    }

    /** The device is gone: the node may be deleted again. */
    public synchronized void release(String name) {
        users.remove(name);
    }

    public synchronized List<String> names() {
        return List.copyOf(nodes.keySet());
    }

    /** Closes every node (the machine stops). */
    public synchronized void closeAll() {
        nodes.values().forEach(n -> n.device().close());
        nodes.clear();
        users.clear();
    }
}
