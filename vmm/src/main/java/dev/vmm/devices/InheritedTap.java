package dev.vmm.devices;

import dev.vmm.ffm.NativeException;
import dev.vmm.ffm.libc.Libc;
import dev.vmm.virtio.net.tap.Tap;
import dev.vmm.virtio.net.tap.TapException;

import java.util.List;

/**
 * {@code --net fd=N} / {@code fds=N:M...}: taps this process inherited open (libvirt creates the tap,
 * then starts QEMU with {@code -netdev tap,fd=N}). Each number must be an open descriptor (QEMU 7.2's
 * message otherwise) and a tap as {@link Tap#adopt} wants it. The descriptors are marked close-on-exec
 * so nothing this process starts later holds the tap; the {@link Tap} owns them once adopted.
 */
final class InheritedTap {
    private InheritedTap() {}

    /** @throws TapException one line: a number that is no open descriptor, or no suitable tap */
    static Tap adopt(List<Integer> fds) {
        int[] raw = fds.stream().mapToInt(Integer::intValue).toArray();
        for (int fd : raw) {
            int flags;
            try {
                flags = Libc.fcntl(fd, Libc.F_GETFD, 0);
            } catch (NativeException e) {
                throw new TapException("Can't use file descriptor " + fd + ": " + Libc.strerror(e.errno()));
            }
            Tap.probe(fd); // QEMU checks each one before the next
            Libc.fcntl(fd, Libc.F_SETFD, flags | Libc.FD_CLOEXEC);
        }
        return Tap.adopt(raw);
    }
}
