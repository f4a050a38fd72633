package dev.vmm.chipset.legacy;

import java.time.LocalDateTime;
import java.time.ZoneId;

/**
 * The MC146818's alarm comparison: at each update the chip compares the new seconds, minutes and
 * hours registers byte for byte with the three alarm registers; an alarm byte with its two top bits
 * set (0xC0-0xFF) is "don't care" and matches any value. The comparison is on the register
 * encoding in force (BCD or binary, 12-hour with the PM bit 7), so this class encodes the candidate
 * time exactly as a time register read would.
 */
final class RtcAlarm {
    /** How far ahead {@link #nextMatch} looks: any satisfiable alarm matches within a day. */
    private static final long HORIZON_SECONDS = 2 * 86_400;

    private RtcAlarm() {}

    static boolean dontCare(int alarm) {
        return (alarm & 0xc0) == 0xc0;
    }

    /**
     * The first epoch second strictly after {@code afterSecond} whose time registers match the
     * alarm bytes, or {@link Long#MAX_VALUE} when none does within two days (an alarm value the
     * encoding can never produce, e.g. seconds 0x75 in BCD).
     *
     * <p>Why tables and jumps: the loop used to step one second at a time while the seconds did not
     * match, so an alarm byte no second can produce cost 172 800 time-zone conversions per call, and
     * the guest can make the timer thread call this at every update (found by profiling
     * {@code CmosRtcFuzzTest}: 55% of the fuzz run's samples). Now a field no value can match ends the
     * search at once, and a mismatching minute or second jumps to the next value that matches: at most
     * ~50 hour steps, then a minute jump and a second jump per matching hour.
     */
    static long nextMatch(long afterSecond, int secAlarm, int minAlarm, int hourAlarm, byte statusB, ZoneId zone) {
        boolean[] seconds = matching(secAlarm, 60, v -> CmosRtc.toRegister(v, statusB));
        boolean[] minutes = matching(minAlarm, 60, v -> CmosRtc.toRegister(v, statusB));
        boolean[] hours = matching(hourAlarm, 24, v -> CmosRtc.hourRegister(v, statusB));
        if (seconds == null || minutes == null || hours == null) return Long.MAX_VALUE;
        long t = afterSecond + 1;
        long end = afterSecond + HORIZON_SECONDS;
        while (t <= end) {
            LocalDateTime local = LocalDateTime.ofInstant(java.time.Instant.ofEpochSecond(t), zone);
            int minute = local.getMinute(), second = local.getSecond();
            if (!hours[local.getHour()]) {
                t += 3600 - minute * 60L - second; // next hour (zone offsets are whole minutes)
            } else if (!minutes[minute]) {
                int next = nextSet(minutes, minute);
                t += next < 0 ? 3600 - minute * 60L - second : (next - minute) * 60L - second;
            } else if (!seconds[second]) {
                int next = nextSet(seconds, second);
                t += next < 0 ? 60 - second : next - second;
            } else {
                return t;
            }
        }
        return Long.MAX_VALUE;
    }

    /** Which of the values 0..count-1 the alarm byte matches in their register encoding, or null if none. */
    private static boolean[] matching(int alarm, int count, java.util.function.IntUnaryOperator encode) {
        boolean[] out = new boolean[count];
        boolean any = false;
        for (int v = 0; v < count; v++) any |= out[v] = matches(alarm, encode.applyAsInt(v));
        return any ? out : null;
    }

    /** The first index after {@code from} that is set, or -1. */
    private static int nextSet(boolean[] set, int from) {
        for (int i = from + 1; i < set.length; i++) if (set[i]) return i;
        return -1;
    }

    private static boolean matches(int alarm, int value) {
        return dontCare(alarm) || (alarm & 0xff) == value;
    }
}
