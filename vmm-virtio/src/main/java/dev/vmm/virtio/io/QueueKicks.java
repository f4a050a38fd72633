package dev.vmm.virtio.io;

import dev.vmm.ffm.libc.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A device's kick eventfds, one per virtqueue. The VMM binds each to its queue's notify address
 * with KVM_IOEVENTFD, so a guest kick wakes the queue's I/O thread without Java code on the vCPU;
 * the transport's fallback ({@code VirtioDevice.queueNotify}) writes the same eventfd. The device
 * owns them: created with it, {@link #close() closed} with it.
 */
public final class QueueKicks implements AutoCloseable {
    private final int[] fds;

    public QueueKicks(int queues) {
        fds = new int[queues];
        for (int i = 0; i < queues; i++) fds[i] = Libc.eventfd(0, Libc.EFD_NONBLOCK | Libc.EFD_CLOEXEC);
    }

    /** The eventfd of queue {@code i}. */
    public int fd(int i) { return fds[i]; }

    public int count() { return fds.length; }

    /** The transport's fallback kick for queue {@code i}; an index out of range is ignored. */
    public void kick(int i) {
        if (i < 0 || i >= fds.length) return;
        Libc.eventfdSignal(fds[i]);
    }

    /** Drops kicks counted for queues that are no longer served (after a reset or quiesce). */
    public void forget() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(8, 8);
            for (int fd : fds) Libc.readRaw(fd, buf, 8);
        }
    }

    @Override
    public void close() {
        for (int fd : fds) Libc.close(fd);
    }
}
