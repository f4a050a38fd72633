package dev.vmm.chipset.acpi;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vmm.chipset.testing.RecordingLine;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * PM1 register edges that {@link AcpiPmTest} leaves open (found by PIT's surviving mutants):
 * byte-granular writes that must keep the other byte, access widths 1 and 8, writes that spill
 * past the block or onto the read-only timer, and the SCI as each operation itself drives it
 * (asserted before any read, since a read re-evaluates the line).
 */
class AcpiPmEdgesTest {
    static final int STS = 0, EN = 2, CNT = 4, TMR = 8;
    static final int S_TYPE_3 = 3 << AcpiPm.SLP_TYP_SHIFT; // a sleep type the DSDT does not offer: stored, no action

    final RecordingLine sci = new RecordingLine();
    final AtomicInteger powerOffs = new AtomicInteger();
    final AtomicLong nanos = new AtomicLong(1_000_000_000L);
    AcpiPm pm;

    @BeforeEach
    void setUp() {
        pm = new AcpiPm(sci, powerOffs::incrementAndGet, nanos::get);
    }

    @Test
    void byteReadsAndAQwordReadSpanningControlAndTimer() {
        pm.pressPowerButton();
        assertThat(pm.read(STS + 1, 1)).isEqualTo(AcpiPm.PWRBTN_STS >> 8);
        pm.write(CNT, 2, S_TYPE_3);
        nanos.addAndGet(1_000_000_000L);
        long qword = pm.read(CNT, 8); // PM1_CNT, 2 reserved bytes, PM_TMR
        assertThat(qword & 0xffff).isEqualTo(S_TYPE_3 | AcpiPm.SCI_EN);
        assertThat(qword >>> 32).isEqualTo(AcpiPm.TIMER_HZ);
    }

    @Test
    void aQwordWriteAtControlReachesControlAndLeavesTheTimer() {
        pm.write(CNT, 8, 0xffff_ffff_0000_0000L | S_TYPE_3);
        assertThat(pm.read(CNT, 2)).isEqualTo(S_TYPE_3 | AcpiPm.SCI_EN);
        assertThat(pm.timerValue()).isZero();
    }

    @Test
    void aWriteThatRunsPastTheBlockIsDroppedWhole() {
        pm.write(CNT + 1, 8, -1L); // bytes 5..12: the block ends at 12
        assertThat(pm.read(CNT, 2)).isEqualTo(AcpiPm.SCI_EN);
        assertThat(powerOffs).hasValue(0);
    }

    @Test
    void bitsAboveTheAccessWidthAreIgnored() {
        pm.write(STS, 2, 0xffff_0000L | AcpiPm.PWRBTN_STS); // upper half would be PM1_EN
        assertThat(pm.read(EN, 2)).isZero();
        pm.pressPowerButton();
        pm.write(STS, 1, 0xff00); // a byte write carries only its low byte: PWRBTN_STS (byte 1) stays
        assertThat(pm.read(STS, 2)).isEqualTo(AcpiPm.PWRBTN_STS);
    }

    @Test
    void writingTheReadOnlyTimerDoesNotAliasOntoTheStatusRegister() {
        pm.pressPowerButton();
        pm.write(TMR, 4, -1L);
        assertThat(pm.read(STS, 2)).isEqualTo(AcpiPm.PWRBTN_STS);
    }

    @Test
    void byteWritesKeepTheOtherByteOfEnableAndControl() {
        pm.write(EN, 2, AcpiPm.PWRBTN_STS | AcpiPm.TMR_STS);  // PWRBTN_EN (high byte), TMR_EN (low byte)
        pm.write(EN, 1, 0);                                  // clear the low byte only
        assertThat(pm.read(EN, 2)).isEqualTo(AcpiPm.PWRBTN_STS);
        pm.write(CNT, 2, S_TYPE_3);                          // SLP_TYP lives in the high byte
        pm.write(CNT, 1, 0);
        assertThat(pm.read(CNT, 2)).isEqualTo(S_TYPE_3 | AcpiPm.SCI_EN);
    }

    @Test
    void statusAndEnableWritesLeaveControlAlone() {
        pm.write(CNT, 2, S_TYPE_3);
        pm.write(STS, 4, (long) AcpiPm.PWRBTN_STS << 16 | AcpiPm.PWRBTN_STS);
        assertThat(pm.read(CNT, 2)).isEqualTo(S_TYPE_3 | AcpiPm.SCI_EN);
    }

    @Test
    void clearingAnotherStatusBitKeepsTmrSts() {
        nanos.addAndGet((1L << 31) * 1_000_000_000L / AcpiPm.TIMER_HZ + 1_000); // bit 31 flips: TMR_STS
        pm.pressPowerButton();
        pm.write(STS, 2, AcpiPm.PWRBTN_STS);
        assertThat(pm.read(STS, 2)).isEqualTo(AcpiPm.TMR_STS);
    }

    @Test
    void theSciFollowsEachOperationWithoutARead() {
        pm.write(EN, 2, AcpiPm.PWRBTN_STS);
        assertThat(sci.level()).isFalse();
        pm.pressPowerButton();
        assertThat(sci.level()).as("press with PWRBTN_EN").isTrue();
        pm.write(EN, 2, 0);
        assertThat(sci.level()).as("enable cleared").isFalse();
        pm.write(EN, 2, AcpiPm.PWRBTN_STS);
        assertThat(sci.level()).as("enable set again").isTrue();
        pm.reset();
        assertThat(sci.level()).as("reset").isFalse();
        assertThat(sci.risingEdges()).isEqualTo(2);
    }

    @Test
    void restoreKeepsTheSubSecondPartOfTheTimer() {
        long ticks = 2 * AcpiPm.TIMER_HZ + AcpiPm.TIMER_HZ / 2; // 2.5 s
        AcpiPm copy = new AcpiPm(new RecordingLine(), () -> { }, () -> 123_456_789L);
        copy.restore(new AcpiPm.State(0, 0, 0, ticks, 0));
        assertThat(copy.timerValue()).isBetween(ticks - 1, ticks);
    }

    @Test
    void restoreDrivesTheSciFromAPendingTimerOverflow() {
        long past31 = (1L << 31) + 10;
        AcpiPm copy = new AcpiPm(sci, () -> { }, () -> 0L);
        copy.restore(new AcpiPm.State(0, AcpiPm.TMR_STS, 0, past31, 0)); // TMR_EN, bit 31 flipped since the last clear
        assertThat(sci.level()).isTrue();
        copy.restore(new AcpiPm.State(0, AcpiPm.TMR_STS, 0, past31, past31)); // cleared since
        assertThat(sci.level()).isFalse();
    }
}
