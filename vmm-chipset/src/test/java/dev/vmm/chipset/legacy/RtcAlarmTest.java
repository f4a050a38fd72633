package dev.vmm.chipset.legacy;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link RtcAlarm#nextMatch} against the definition (every second of the two-day horizon encoded as
 * the time registers would read it, compared byte for byte), and its cost for an alarm no time can
 * match: the fuzz run's profile found 172 800 time-zone conversions per such call.
 */
class RtcAlarmTest {
    static final byte[] MODES = {CmosRtc.B_24H, CmosRtc.B_24H | CmosRtc.B_BINARY, 0, CmosRtc.B_BINARY};
    // 2026-03-28 22:00:00 UTC: Berlin's clocks jump from 02:00 to 03:00 a few hours later
    static final long START = Instant.parse("2026-03-28T22:00:00Z").getEpochSecond();

    /** The definition: the first second after {@code after} whose encoded fields equal the alarm (or don't care). */
    static long bruteForce(long after, int sec, int min, int hour, byte b, ZoneId zone) {
        for (long t = after + 1; t <= after + 2 * 86_400; t++) {
            LocalDateTime l = LocalDateTime.ofInstant(Instant.ofEpochSecond(t), zone);
            if (ok(hour, CmosRtc.hourRegister(l.getHour(), b)) && ok(min, CmosRtc.toRegister(l.getMinute(), b))
                    && ok(sec, CmosRtc.toRegister(l.getSecond(), b))) return t;
        }
        return Long.MAX_VALUE;
    }

    static boolean ok(int alarm, int value) {
        return (alarm & 0xc0) == 0xc0 || (alarm & 0xff) == value;
    }

    /** An alarm byte: don't care, a value some time encodes to in some mode, or any byte. */
    static int alarmByte(SplittableRandom r, int limit) {
        return switch (r.nextInt(4)) {
            case 0 -> 0xc0 | r.nextInt(0x40);
            case 1 -> r.nextInt(limit);                          // binary value
            case 2 -> { int v = r.nextInt(limit); yield (v / 10) << 4 | v % 10; } // BCD value
            default -> r.nextInt(256);
        };
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void matchesTheDefinitionAcrossModesAndADstChange() {
        SplittableRandom r = new SplittableRandom(18);
        int satisfiable = 0;
        for (int i = 0; i < 160; i++) {
            byte b = MODES[i % MODES.length];
            ZoneId zone = ZoneId.of(i % 2 == 0 ? "Europe/Berlin" : "UTC");
            int sec = alarmByte(r, 60), min = alarmByte(r, 60), hour = i % 7 == 0 ? (0x80 | r.nextInt(13)) : alarmByte(r, 24);
            long after = START + r.nextInt(86_400);
            long expected = bruteForce(after, sec, min, hour, b, zone);
            if (expected != Long.MAX_VALUE) satisfiable++;
            assertThat(RtcAlarm.nextMatch(after, sec, min, hour, b, zone))
                    .as("alarm %02x:%02x:%02x mode %02x after %d in %s", hour, min, sec, b, after, zone)
                    .isEqualTo(expected);
        }
        assertThat(satisfiable).as("the sample exercises matching alarms too").isGreaterThan(50);
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void anAlarmNoTimeCanMatchIsAnsweredWithoutScanningTwoDays() {
        ZoneId berlin = ZoneId.of("Europe/Berlin");
        long t0 = System.nanoTime();
        for (int i = 0; i < 2000; i++) {
            // seconds 0x75 is not BCD: no second reads so; hours and minutes "don't care"
            assertThat(RtcAlarm.nextMatch(START + i, 0x75, 0xff, 0xff, (byte) CmosRtc.B_24H, berlin)).isEqualTo(Long.MAX_VALUE);
        }
        // Before the fix each call converted 172 800 seconds (105-224 ms per call on the loaded build host).
        assertThat(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - t0)).isLessThan(5);
    }
}
