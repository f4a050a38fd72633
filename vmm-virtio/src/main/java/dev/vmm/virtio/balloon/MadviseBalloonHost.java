package dev.vmm.virtio.balloon;

import dev.vmm.ffm.libc.Libc;
import dev.vmm.memory.GuestMemory;

/**
 * Gives ballooned guest pages back to the host: {@code MADV_DONTNEED} for private anonymous RAM
 * (the pages are freed at once and read back as zeroes), {@code MADV_REMOVE} for shared RAM
 * ({@code share=on}: DONTNEED would only drop this mapping's view, the memfd would keep the pages).
 */
public final class MadviseBalloonHost implements BalloonHost {
    private final GuestMemory memory;
    private final int advice;

    public MadviseBalloonHost(GuestMemory memory, boolean sharedRam) {
        this.memory = memory;
        this.advice = sharedRam ? Libc.MADV_REMOVE : Libc.MADV_DONTNEED;
    }

    @Override
    public boolean release(long gpa, long length) {
        if (!memory.isValid(gpa, length)) return false;
        try {
            Libc.madvise(memory.slice(gpa, length), advice);
            return true;
        } catch (RuntimeException e) { // an errno from madvise: the pages simply stay
            return false;
        }
    }

    /** The advice used, for the log and tests. */
    public int advice() { return advice; }
}
