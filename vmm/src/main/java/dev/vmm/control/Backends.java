package dev.vmm.control;

import dev.vmm.control.QmpServer.QmpException;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Host backends made over QMP for devices plugged later (block nodes, netdevs), by name, and which
 * device uses each: a backend serves at most one device and cannot be deleted while one uses it
 * (its device is released when the guest has ejected it). Deleting or closing all closes them.
 */
public abstract class Backends<T> {
    private final Map<String, T> byName = new LinkedHashMap<>();
    private final Map<String, String> users = new HashMap<>();

    /** Releases what {@code backend} holds (closes the image, the tap). */
    protected abstract void close(T backend);

    protected abstract QmpException notFound(String name);

    protected abstract QmpException inUse(String name, String device);

    public synchronized boolean contains(String name) {
        return byName.containsKey(name);
    }

    /** Adds {@code backend} as {@code name}; false (nothing added) when the name is taken. */
    protected synchronized boolean put(String name, T backend) {
        return byName.putIfAbsent(name, backend) == null;
    }

    /** Closes and forgets the backend; refused while a device uses it. */
    public synchronized void delete(String name) throws QmpException {
        T b = byName.get(name);
        if (b == null) throw notFound(name);
        String user = users.get(name);
        if (user != null) throw inUse(name, user);
        byName.remove(name);
        close(b);
    }

    /** The backend, or null. */
    public synchronized T find(String name) {
        return byName.get(name);
    }

    /** The device using it, or null. */
    public synchronized String user(String name) {
        return users.get(name);
    }

    /** Marks the backend used by {@code device}; false when it is unknown or another device has it. */
    public synchronized boolean claim(String name, String device) {
        return byName.containsKey(name) && users.putIfAbsent(name, device) == null;
    }

    /** The device is gone: the backend may be deleted or used again. */
    public synchronized void release(String name) {
        users.remove(name);
    }

    public synchronized List<String> names() {
        return List.copyOf(byName.keySet());
    }

    /** Closes every backend (the machine stops). */
    public synchronized void closeAll() {
        byName.values().forEach(this::close);
        byName.clear();
        users.clear();
    }
}
