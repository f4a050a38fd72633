package dev.vmm.virtio.io;

import dev.vmm.ffm.libc.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * One virtqueue's kick eventfd in an {@link IoThread}'s epoll set: on a kick the eventfd counter is
 * read (so the level-triggered fd goes quiet) and the worker's handler runs. Every queue worker
 * (blk, scsi, net, their control queues) watches its kicks through one of these. On the I/O
 * thread only.
 */
public final class KickWatch {
    private final IoThread thread;
    private final int fd;
    /** The 8-byte eventfd counter read into; left to the GC (no arena to close on every path). */
    private final MemorySegment counter = Arena.ofAuto().allocate(8, 8);
    private boolean watched;

    public KickWatch(IoThread thread, int fd) {
        this.thread = thread;
        this.fd = fd;
    }

    /** Starts calling {@code onKick} for every kick. */
    public void watch(Runnable onKick) {
        thread.addFd(fd, () -> {
            Libc.readRaw(fd, counter, 8);
            onKick.run();
        });
        watched = true;
    }

    /** Stops watching (kicks then stay counted in the eventfd until the device forgets them). */
    public void unwatch() {
        if (watched) {
            thread.removeFd(fd);
            watched = false;
        }
    }
}
