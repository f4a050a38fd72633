package dev.vmm.usb.hid;

import java.util.ArrayDeque;
import java.util.Arrays;

/**
 * Reports waiting for the host to poll the interrupt IN endpoint, bounded: a guest that stops
 * polling (or a client that floods {@code input-send-event}) can never make it grow past
 * {@link #capacity}. When full, or when {@code coalescable} says the newest report may simply be
 * replaced (a pointer that only moved), the last waiting report is overwritten: the final state is
 * always delivered, intermediate positions may be lost. Not thread-safe (the device's lock guards it).
 */
final class ReportQueue {
    private final ArrayDeque<byte[]> reports = new ArrayDeque<>();
    private final int capacity;

    ReportQueue(int capacity) {
        this.capacity = capacity;
    }

    /**
     * Adds {@code report}; replaces the last one instead when full or when {@code replaceLast}; with
     * {@code dropRepeat} a report equal to the last one waiting is not added again (absolute state).
     */
    void offer(byte[] report, boolean replaceLast, boolean dropRepeat) {
        if (dropRepeat && !reports.isEmpty() && Arrays.equals(reports.peekLast(), report)) return;
        if (!reports.isEmpty() && (replaceLast || reports.size() >= capacity)) reports.pollLast();
        reports.addLast(report);
    }

    byte[] poll() { return reports.pollFirst(); }

    boolean isEmpty() { return reports.isEmpty(); }

    int size() { return reports.size(); }

    void clear() { reports.clear(); }

    /** The waiting reports, oldest first (for saving the device's state). */
    java.util.List<byte[]> contents() { return java.util.List.copyOf(reports); }
}
