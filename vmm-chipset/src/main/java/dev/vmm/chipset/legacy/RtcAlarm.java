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
     */
    static long nextMatch(long afterSecond, int secAlarm, int minAlarm, int hourAlarm, byte statusB, ZoneId zone) {
        long t = afterSecond + 1;
        long end = afterSecond + HORIZON_SECONDS;
        while (t <= end) {
            LocalDateTime local = LocalDateTime.ofInstant(java.time.Instant.ofEpochSecond(t), zone);
            if (!matches(hourAlarm, CmosRtc.hourRegister(local.getHour(), statusB))) {
                t += 3600 - local.getMinute() * 60L - local.getSecond(); // next hour (zone offsets are whole minutes)
            } else if (!matches(minAlarm, CmosRtc.toRegister(local.getMinute(), statusB))) {
                t += 60 - local.getSecond();
            } else if (!matches(secAlarm, CmosRtc.toRegister(local.getSecond(), statusB))) {
                t += 1;
            } else {
                return t;
            }
        }
        return Long.MAX_VALUE;
    }

    private static boolean matches(int alarm, int value) {
        return dontCare(alarm) || (alarm & 0xff) == value;
    }
}
