package dev.vmm.ffm.uring;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * What the submission and the completion ring have in common: the memory shared with the kernel,
 * the {@code head}, {@code tail} and {@code flags} words (at the offsets {@code io_uring_setup}
 * reports in {@code io_sqring_offsets} / {@code io_cqring_offsets}), and the ring's mask and size.
 * The index words are read with acquire and written with release: the kernel writes the other end.
 */
final class MappedRing {
    /** int view of the ring memory with acquire/release access modes. */
    private static final VarHandle INT = JAVA_INT.varHandle();

    final MemorySegment memory;
    private final long headOff;
    private final long tailOff;
    private final long flagsOff;
    final int mask;
    final int entries;

    MappedRing(MemorySegment memory, long headOff, long tailOff, long maskOff, long entriesOff, long flagsOff) {
        this.memory = memory;
        this.headOff = headOff;
        this.tailOff = tailOff;
        this.flagsOff = flagsOff;
        this.mask = memory.get(JAVA_INT, maskOff);
        this.entries = memory.get(JAVA_INT, entriesOff);
    }

    int headAcquire() { return (int) INT.getAcquire(memory, headOff); }

    int tailAcquire() { return (int) INT.getAcquire(memory, tailOff); }

    int flagsAcquire() { return (int) INT.getAcquire(memory, flagsOff); }

    /** A plain load of the flags word (after a fence of the caller's, or by the flags' only writer). */
    int flagsPlain() { return memory.get(JAVA_INT, flagsOff); }

    /** A plain load of the head (at setup, or by the head's only writer). */
    int headPlain() { return memory.get(JAVA_INT, headOff); }

    /** A plain load of the tail (at setup, or by the tail's only writer). */
    int tailPlain() { return memory.get(JAVA_INT, tailOff); }

    void releaseHead(int head) { INT.setRelease(memory, headOff, head); }

    void releaseTail(int tail) { INT.setRelease(memory, tailOff, tail); }

    void releaseFlags(int flags) { INT.setRelease(memory, flagsOff, flags); }

    /** Acquire load of another int word of the ring (dropped, overflow). */
    int intAcquire(long offset) { return (int) INT.getAcquire(memory, offset); }
}
