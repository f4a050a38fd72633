package dev.vmm.control.fdpass;

import dev.vmm.control.QmpServer;
import dev.vmm.control.QmpServer.QmpException;
import dev.vmm.ffm.libc.Libc;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * QMP {@code getfd} / {@code closefd} (QEMU 7.2's monitor fd list, which libvirt uses to hand over
 * open taps): {@code getfd {"fdname": N}} names the file descriptor the client passed with
 * SCM_RIGHTS along with the command; {@code closefd} closes a named one; a user such as
 * {@code netdev_add ... "fd": N} {@link #take}s it (QEMU removes it from the list then, too).
 * One list per QMP server (QEMU: per monitor), kept across client connections; closed with it.
 */
public final class NamedFds implements AutoCloseable {
    private final Map<String, Integer> fds = new LinkedHashMap<>();

    /** Registers {@code getfd} and {@code closefd} on {@code server}; returns the list. */
    public static NamedFds install(QmpServer server) {
        NamedFds n = new NamedFds();
        server.register("getfd", Set.of("fdname"), a -> {
            n.getfd(name(a), QmpServer.takeReceivedFd());
            return null;
        });
        server.register("closefd", Set.of("fdname"), a -> {
            n.closefd(name(a));
            return null;
        });
        return n;
    }

    private static String name(com.fasterxml.jackson.databind.JsonNode a) throws QmpException {
        com.fasterxml.jackson.databind.JsonNode v = a.get("fdname");
        if (v == null) throw QmpException.generic("Parameter 'fdname' is missing");
        if (!v.isTextual()) throw QmpException.generic("Invalid parameter type for 'fdname', expected: string");
        return v.asText();
    }

    /** getfd: {@code fd} (-1: the client passed none) under {@code name}, replacing (and closing) an older one. */
    synchronized void getfd(String name, int fd) throws QmpException {
        if (fd < 0) throw QmpException.generic("No file descriptor supplied via SCM_RIGHTS");
        if (!name.isEmpty() && Character.isDigit(name.charAt(0))) {
            Libc.close(fd);
            throw QmpException.generic("Parameter 'fdname' expects a name not starting with a digit");
        }
        Integer old = fds.put(name, fd);
        if (old != null) Libc.close(old);
    }

    synchronized void closefd(String name) throws QmpException {
        Integer fd = fds.remove(name);
        if (fd == null) throw QmpException.generic("File descriptor named '" + name + "' not found");
        Libc.close(fd);
    }

    /** Removes the fd named {@code name} and hands it to the caller (who closes it), or throws QEMU's error. */
    public synchronized int take(String name) throws QmpException {
        Integer fd = fds.remove(name);
        if (fd == null) throw QmpException.generic("File descriptor named '" + name + "' has not been found");
        return fd;
    }

    /** Whether a descriptor is named {@code name}. */
    public synchronized boolean has(String name) {
        return fds.containsKey(name);
    }

    @Override
    public synchronized void close() {
        fds.values().forEach(Libc::close);
        fds.clear();
    }
}
