package dev.vmm.usb.hid;

import dev.vmm.usb.UsbStateException;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.Arrays;

/**
 * The idle rates of HID 1.11 §7.2.4 (SET_IDLE/GET_IDLE) and the deadline of the next idle report.
 * A rate is kept per report id (wValue's low byte; id 0 sets every report's rate); a non-zero
 * duration, in 4 ms units, means "send the report again after duration × 4 ms if nothing changed",
 * 0 means "only on change". This VMM's HID reports carry no report id, so the rate of id 0
 * governs them; rates set for other ids are kept and answered by GET_IDLE only.
 *
 * <p>A clock value is passed in (the controller's): no timer here. Not thread-safe (the device's
 * lock guards it).
 */
final class IdleRate {
    static final long UNIT_NANOS = 4_000_000L;
    /** "No idle report due". */
    static final long NONE = Long.MAX_VALUE;

    private final int[] duration = new int[256];
    private long deadline = NONE;

    /** SET_IDLE; restarts the period of the unnumbered report when its rate changed. */
    void set(int reportId, int units, long now) {
        if (reportId == 0) Arrays.fill(duration, units);
        else duration[reportId] = units;
        if (reportId == 0) restart(now);
    }

    /** GET_IDLE: what was set for this report id (0 after a reset). */
    int get(int reportId) { return duration[reportId]; }

    private long periodNanos() { return duration[0] * UNIT_NANOS; }

    /** A report was just sent: the next idle report is one period from now (none for rate 0). */
    void restart(long now) {
        deadline = duration[0] == 0 ? NONE : now + periodNanos();
    }

    /** Whether an idle report is due at {@code now}. */
    boolean due(long now) { return deadline != NONE && now - deadline >= 0; }

    /** When the next idle report is due, or {@link #NONE}. */
    long deadline() { return deadline; }

    void reset() {
        Arrays.fill(duration, 0);
        deadline = NONE;
    }

    // ---- state (HID state version 2; version 1 had only id 0's rate, written by the caller)

    /** The rate of id 0 goes where version 1 had it; this writes the rest (other ids, time left). */
    void saveExtra(DataOutputStream out, long now) throws IOException {
        int n = 0;
        for (int id = 1; id < 256; id++) if (duration[id] != duration[0]) n++;
        out.writeByte(n);
        for (int id = 1; id < 256; id++) {
            if (duration[id] != duration[0]) {
                out.writeByte(id);
                out.writeByte(duration[id]);
            }
        }
        out.writeLong(deadline == NONE ? -1 : Math.max(0, deadline - now));
    }

    /** The checked contents of a saved state, applied by {@link #apply}. */
    record Saved(int[] duration, long leftNanos) { }

    /** Version 1: one rate for every id, a fresh period from the load on. */
    static Saved readV1(int units) {
        int[] d = new int[256];
        Arrays.fill(d, units);
        return new Saved(d, units == 0 ? -1 : units * UNIT_NANOS);
    }

    static Saved readV2(String who, int units, DataInputStream in) throws IOException {
        int[] d = readV1(units).duration();
        int n = in.readUnsignedByte();
        int previous = 0;
        for (int i = 0; i < n; i++) {
            int id = (int) UsbStateException.check(who + ": idle report id", in.readUnsignedByte(), previous + 1, 255);
            d[id] = in.readUnsignedByte();
            previous = id;
        }
        long left = in.readLong();
        if (units == 0) UsbStateException.check(who + ": idle time left with rate 0", left, -1, -1);
        else UsbStateException.check(who + ": idle time left", left, 0, units * UNIT_NANOS);
        return new Saved(d, left);
    }

    void apply(Saved s, long now) {
        System.arraycopy(s.duration(), 0, duration, 0, 256);
        deadline = s.leftNanos() < 0 ? NONE : now + s.leftNanos();
    }
}
