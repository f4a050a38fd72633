package dev.vmm.chipset.legacy.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vmm.chipset.legacy.CmosRtc;
import dev.vmm.chipset.testing.MutableClock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;

/**
 * Jazzer target for the CMOS/RTC as a hostile guest drives it: any index and value (divider and
 * rate bits, BCD garbage in time and alarm registers, SET, 12/24 h and binary switches), the clock
 * moving by any amount, the timer's poll, snapshot restore, the RESET pin and the HPET's legacy
 * route. Findings: an exception; IRQ 8 driven twice to the same level or high after status C was
 * read; status C with bits outside IRQF/PF/AF/UF; a deadline in the past; a running BCD clock
 * reading a non-BCD second. Without JAZZER_FUZZ the seeds under src/test/resources replay as a
 * regression test; {@code JAZZER_FUZZ=1 ./mvnw -pl vmm-chipset -am test -Dtest=CmosRtcFuzzTest} fuzzes.
 */
class CmosRtcFuzzTest {
    @FuzzTest(maxDuration = "60s")
    void registers(FuzzedDataProvider data) {
        MutableClock clock = new MutableClock(Instant.parse("2026-03-29T00:59:58Z"),
                data.consumeBoolean() ? ZoneId.of("Europe/Berlin") : ZoneId.of("UTC")); // a DST change ahead
        boolean[] line = {false};
        boolean[] hpet = {false};
        CmosRtc rtc = new CmosRtc(clock, level -> {
            if (level == line[0]) throw new AssertionError("IRQ 8 driven to " + level + " twice");
            line[0] = level;
        }, 512L << 20, 0);
        for (int step = 0; step < 256 && data.remainingBytes() > 0; step++) {
            switch (data.consumeInt(0, 7)) {
                case 0, 1 -> {
                    rtc.write(0, 1, data.consumeInt(0, 0xff));
                    rtc.write(1, 1, data.consumeInt(0, 0xff));
                }
                case 2 -> {
                    rtc.write(0, 1, 0x0c);
                    long c = rtc.read(1, 1);
                    if ((c & 0x0f) != 0) throw new AssertionError("status C 0x" + Long.toHexString(c));
                    if (line[0]) throw new AssertionError("IRQ 8 high after status C was read");
                }
                case 3 -> {
                    clock.advance(Duration.ofNanos(data.consumeLong(0, 100_000_000_000L)));
                    rtc.poll();
                }
                case 4 -> {
                    long deadline = rtc.nextDeadlineNanos();
                    Instant now = clock.instant();
                    long nowNanos = now.getEpochSecond() * 1_000_000_000L + now.getNano();
                    if (deadline != Long.MAX_VALUE && deadline <= nowNanos)
                        throw new AssertionError("deadline " + deadline + " not after now " + nowNanos);
                }
                case 5 -> {
                    rtc.write(0, 1, 0x0b);
                    long b = rtc.read(1, 1);
                    rtc.write(0, 1, 0x0a);
                    long a = rtc.read(1, 1);
                    rtc.write(0, 1, 0x00);
                    long sec = rtc.read(1, 1);
                    boolean running = (a & 0x70) <= 0x20;
                    if ((b & 0x84) == 0 && running && ((sec & 0x0f) > 9 || sec >= 0x60))
                        throw new AssertionError("BCD second 0x" + Long.toHexString(sec));
                }
                case 6 -> {
                    if (data.consumeBoolean()) rtc.resetPin();
                    else rtc.restore(rtc.state());
                }
                default -> {
                    hpet[0] = !hpet[0];
                    rtc.hpetLegacyRoute(hpet[0]);
                }
            }
        }
    }
}
