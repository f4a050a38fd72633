package dev.vmm.chipset.legacy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vmm.chipset.bus.InterruptLine;
import dev.vmm.chipset.testing.MutableClock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

class CmosRtcTest {
    static final long MIB = 1L << 20, GIB = 1L << 30;
    // Saturday 2024-02-29 13:45:07.250 UTC
    final MutableClock clock = new MutableClock(Instant.parse("2024-02-29T13:45:07.250Z"), ZoneOffset.UTC);
    final CmosRtc rtc = new CmosRtc(clock, InterruptLine.none(), 2 * GIB, 3 * GIB);

    int cmos(int index) {
        rtc.write(0, 1, index);
        return (int) rtc.read(1, 1);
    }

    void cmos(int index, int value) {
        rtc.write(0, 1, index);
        rtc.write(1, 1, value);
    }

    @Test
    void readsTimeInBcdTwentyFourHourByDefault() {
        assertThat(cmos(0x0b)).isEqualTo(0x02);
        assertThat(cmos(0x00)).isEqualTo(0x07);
        assertThat(cmos(0x02)).isEqualTo(0x45);
        assertThat(cmos(0x04)).isEqualTo(0x13);
        assertThat(cmos(0x06)).isEqualTo(0x05); // Thursday: Sunday = 1
        assertThat(cmos(0x07)).isEqualTo(0x29);
        assertThat(cmos(0x08)).isEqualTo(0x02);
        assertThat(cmos(0x09)).isEqualTo(0x24);
        assertThat(cmos(0x32)).isEqualTo(0x20);
    }

    @Test
    void readsTimeInBinaryWhenDmIsSet() {
        cmos(0x0b, 0x06);
        assertThat(cmos(0x00)).isEqualTo(7);
        assertThat(cmos(0x02)).isEqualTo(45);
        assertThat(cmos(0x04)).isEqualTo(13);
        assertThat(cmos(0x07)).isEqualTo(29);
        assertThat(cmos(0x08)).isEqualTo(2);
        assertThat(cmos(0x09)).isEqualTo(24);
        assertThat(cmos(0x32)).isEqualTo(20);
    }

    @Test
    void twelveHourModeMarksPmInBit7() {
        cmos(0x0b, 0x00); // BCD, 12 h
        assertThat(cmos(0x04)).isEqualTo(0x80 | 0x01);
        clock.set(Instant.parse("2024-02-29T00:30:00Z"));
        assertThat(cmos(0x04)).isEqualTo(0x12); // midnight hour is 12 AM
        clock.set(Instant.parse("2024-02-29T12:30:00Z"));
        assertThat(cmos(0x04)).isEqualTo(0x80 | 0x12);
        cmos(0x0b, 0x04); // binary, 12 h
        clock.set(Instant.parse("2024-02-29T23:30:00Z"));
        assertThat(cmos(0x04)).isEqualTo(0x80 | 11);
    }

    @Test
    void followsTheClock() {
        clock.advance(Duration.ofSeconds(60));
        assertThat(cmos(0x02)).isEqualTo(0x46);
        assertThat(cmos(0x00)).isEqualTo(0x07);
        clock.set(Instant.parse("2099-12-31T23:59:59Z"));
        clock.advance(Duration.ofSeconds(1));
        assertThat(cmos(0x09)).isZero();
        assertThat(cmos(0x32)).isEqualTo(0x21);
        assertThat(cmos(0x08)).isEqualTo(0x01);
    }

    @Test
    void usesTheClocksTimeZone() {
        CmosRtc local = new CmosRtc(clock.withZone(ZoneId.of("Asia/Tokyo")), InterruptLine.none(), GIB, 0);
        local.write(0, 1, 0x04);
        assertThat(local.read(1, 1)).isEqualTo(0x22);
    }

    @Test
    void setBitFreezesAndTheWrittenTimeBecomesAnOffset() {
        cmos(0x0b, 0x82); // SET, BCD, 24 h
        clock.advance(Duration.ofSeconds(5));
        assertThat(cmos(0x00)).as("frozen").isEqualTo(0x07);
        cmos(0x09, 0x30);
        cmos(0x08, 0x07);
        cmos(0x07, 0x04);
        cmos(0x04, 0x09);
        cmos(0x02, 0x00);
        cmos(0x00, 0x00);
        assertThat(cmos(0x04)).isEqualTo(0x09);
        cmos(0x0b, 0x02); // release
        assertThat(cmos(0x09)).isEqualTo(0x30);
        assertThat(cmos(0x04)).isEqualTo(0x09);
        assertThat(cmos(0x00)).isEqualTo(0x00);
        assertThat(cmos(0x06)).isEqualTo(0x05); // 2030-07-04 is a Thursday
        clock.advance(Duration.ofMillis(999));
        assertThat(cmos(0x00)).isEqualTo(0x00);
        clock.advance(Duration.ofMillis(1));
        assertThat(cmos(0x00)).isEqualTo(0x01);
        clock.advance(Duration.ofHours(1));
        assertThat(cmos(0x04)).isEqualTo(0x10);
        // The offset survives a snapshot into a device on a clock 100 s later.
        MutableClock later = new MutableClock(clock.instant().plusSeconds(100), ZoneOffset.UTC);
        CmosRtc copy = new CmosRtc(later, InterruptLine.none(), GIB, 0);
        copy.restore(rtc.state());
        copy.write(0, 1, 0x02);
        assertThat(copy.read(1, 1)).isEqualTo(0x01); // 10:00:01 + 100 s = 10:01:41
    }

    @Test
    void setInBinaryTwelveHourMode() {
        cmos(0x0b, 0x84); // SET, binary, 12 h
        cmos(0x32, 20);
        cmos(0x09, 25);
        cmos(0x08, 12);
        cmos(0x07, 25);
        cmos(0x04, 0x80 | 12); // 12 PM = noon
        cmos(0x02, 30);
        cmos(0x00, 15);
        cmos(0x0b, 0x06); // release, switch to 24 h
        assertThat(cmos(0x04)).isEqualTo(12);
        assertThat(cmos(0x02)).isEqualTo(30);
        assertThat(cmos(0x06)).isEqualTo(5); // 2025-12-25 is a Thursday
    }

    @Test
    void invalidTimeIsIgnored() {
        cmos(0x0b, 0x82);
        cmos(0x08, 0x13); // month 13
        cmos(0x0b, 0x02);
        assertThat(cmos(0x08)).isEqualTo(0x02);
        cmos(0x0b, 0x82);
        cmos(0x00, 0x5a); // not BCD
        cmos(0x0b, 0x02);
        assertThat(cmos(0x00)).isEqualTo(0x07);
    }

    @Test
    void writingATimeRegisterWhileRunningAdjustsTheClock() {
        cmos(0x04, 0x01);
        assertThat(cmos(0x04)).isEqualTo(0x01);
        assertThat(cmos(0x02)).isEqualTo(0x45);
        // Sub-second phase kept: 750 ms to the next tick, as before.
        clock.advance(Duration.ofMillis(749));
        assertThat(cmos(0x00)).isEqualTo(0x07);
        clock.advance(Duration.ofMillis(1));
        assertThat(cmos(0x00)).isEqualTo(0x08);
    }

    @Test
    void setClearsUpdateInterruptEnable() {
        cmos(0x0b, 0x92);
        assertThat(cmos(0x0b)).isEqualTo(0x82);
    }

    @Test
    void updateInProgressOnlyInTheLast244MicrosecondsOfASecond() {
        clock.set(Instant.parse("2024-01-01T00:00:00.999700Z"));
        assertThat(cmos(0x0a) & 0x80).isZero();
        clock.set(Instant.parse("2024-01-01T00:00:00.999800Z"));
        assertThat(cmos(0x0a)).isEqualTo(0x80 | 0x26);
        clock.set(Instant.parse("2024-01-01T00:00:01.000000Z"));
        assertThat(cmos(0x0a)).isEqualTo(0x26);
        cmos(0x0a, 0xa6); // UIP is read-only
        assertThat(cmos(0x0a)).isEqualTo(0x26);
        // No update cycles while SET is held.
        cmos(0x0b, 0x82);
        clock.set(Instant.parse("2024-01-01T00:00:01.999900Z"));
        assertThat(cmos(0x0a) & 0x80).isZero();
    }

    @Test
    void statusCReportsUpdateEndedOncePerSecondBoundary() {
        assertThat(cmos(0x0c)).isZero();
        clock.advance(Duration.ofSeconds(1));
        assertThat(cmos(0x0c)).isEqualTo(0x10);
        assertThat(cmos(0x0c)).isZero();
        cmos(0x0b, 0x12); // UIE
        clock.advance(Duration.ofSeconds(1));
        assertThat(cmos(0x0c)).isEqualTo(0x90);
    }

    @Test
    void statusDReportsValidTime() {
        assertThat(cmos(0x0d)).isEqualTo(0x80);
        cmos(0x0d, 0);
        assertThat(cmos(0x0d)).isEqualTo(0x80);
    }

    @Test
    void memorySizeFields() {
        assertThat(cmos(0x15) | cmos(0x16) << 8).isEqualTo(640);
        assertThat(cmos(0x17) | cmos(0x18) << 8).isEqualTo(0xffff);
        assertThat(cmos(0x30) | cmos(0x31) << 8).isEqualTo(0xffff);
        assertThat(cmos(0x34) | cmos(0x35) << 8).isEqualTo((int) ((2 * GIB - 16 * MIB) / 65536));
        assertThat(cmos(0x5b) | cmos(0x5c) << 8 | cmos(0x5d) << 16).isEqualTo((int) (3 * GIB / 65536));

        CmosRtc small = new CmosRtc(clock, InterruptLine.none(), 8 * MIB, 0);
        small.write(0, 1, 0x17);
        long lo = small.read(1, 1);
        small.write(0, 1, 0x18);
        assertThat(lo | small.read(1, 1) << 8).isEqualTo(7 * 1024);
        small.write(0, 1, 0x34);
        assertThat(small.read(1, 1)).isZero();
    }

    @Test
    void rejectsImpossibleMemorySizes() {
        assertThatThrownBy(() -> new CmosRtc(clock, InterruptLine.none(), 5 * GIB, 0))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new CmosRtc(clock, InterruptLine.none(), GIB, -1))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void plainRamAndNmiMask() {
        cmos(0x40, 0xa5);
        assertThat(cmos(0x40)).isEqualTo(0xa5);
        rtc.write(0, 1, 0x80 | 0x40);
        assertThat(rtc.nmiDisabled()).isTrue();
        assertThat(rtc.read(1, 1)).isEqualTo(0xa5);
        rtc.write(0, 1, 0x40);
        assertThat(rtc.nmiDisabled()).isFalse();
        assertThat(rtc.read(0, 1)).isEqualTo(0xff);
    }

    @Test
    void stateRoundTrip() {
        cmos(0x40, 0x11);
        cmos(0x0b, 0x06);
        rtc.write(0, 1, 0x80 | 0x40);
        CmosRtc.State s = rtc.state();
        CmosRtc copy = new CmosRtc(clock, InterruptLine.none(), GIB, 0);
        copy.restore(s);
        assertThat(copy.state()).usingRecursiveComparison().isEqualTo(s);
        assertThat(copy.read(1, 1)).isEqualTo(0x11);
        assertThat(copy.nmiDisabled()).isTrue();
        copy.write(0, 1, 0x00);
        assertThat(copy.read(1, 1)).isEqualTo(7); // binary mode carried over
        assertThatThrownBy(() -> new CmosRtc.State(new byte[64], 0, false, 0, 0, 0))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
