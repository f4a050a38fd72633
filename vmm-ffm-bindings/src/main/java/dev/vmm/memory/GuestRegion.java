package dev.vmm.memory;

import java.lang.foreign.MemorySegment;

/**
 * One contiguous range of guest RAM: guest-physical {@code base} backed by {@code host}, whose
 * size is the region's size. The segment is the only handle to the host mapping anyone gets.
 */
public record GuestRegion(int slot, long base, MemorySegment host) {
    public long size() { return host.byteSize(); }

    public long end() { return base + host.byteSize(); }

    public boolean contains(long gpa, long len) {
        return gpa >= base && len >= 0 && gpa - base <= size() - len;
    }
}
