package dev.vmm.chipset.acpi;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.testing.RecordingLine;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class AcpiPmTest {
    static final int STS = 0, EN = 2, CNT = 4, TMR = 8;

    final RecordingLine sci = new RecordingLine();
    final AtomicInteger powerOffs = new AtomicInteger();
    final AtomicLong nanos = new AtomicLong(5_000_000_000L);
    AcpiPm pm;

    @BeforeEach
    void setUp() {
        pm = new AcpiPm(sci, powerOffs::incrementAndGet, nanos::get);
    }

    @Test
    void alwaysInAcpiMode() {
        assertThat(pm.read(CNT, 2)).isEqualTo(AcpiPm.SCI_EN);
        pm.write(CNT, 2, 0); // the OS cannot leave ACPI mode: there is no SMI_CMD
        assertThat(pm.read(CNT, 2) & AcpiPm.SCI_EN).isEqualTo(1);
    }

    @Test
    void slpEnWithTheS5TypeFromTheDsdtPowersOff() {
        int s5 = AcpiPm.SLP_TYP_S5 << AcpiPm.SLP_TYP_SHIFT;
        pm.write(CNT, 2, s5 | AcpiPm.SCI_EN); // type first, no SLP_EN (ACPICA writes in two steps)
        assertThat(powerOffs).hasValue(0);
        assertThat(pm.read(CNT, 2)).isEqualTo(s5 | AcpiPm.SCI_EN);
        pm.write(CNT, 2, s5 | AcpiPm.SLP_EN | AcpiPm.SCI_EN);
        assertThat(powerOffs).hasValue(1);
        assertThat(pm.read(CNT, 2) & AcpiPm.SLP_EN).as("SLP_EN is write-only").isZero();
    }

    @Test
    void slpEnAsAByteWriteToTheHighHalf() {
        pm.write(CNT + 1, 1, (AcpiPm.SLP_TYP_S5 << 2) | 0x20); // bits 10-12 and 13 of the register
        assertThat(powerOffs).hasValue(1);
    }

    @Test
    void otherSleepTypesAreIgnored() {
        for (int typ = 0; typ < 8; typ++) {
            if (typ == AcpiPm.SLP_TYP_S5) continue;
            pm.write(CNT, 2, typ << AcpiPm.SLP_TYP_SHIFT | AcpiPm.SLP_EN);
        }
        assertThat(powerOffs).hasValue(0);
    }

    @Test
    void powerButtonRaisesTheSciOnlyWhenEnabledAndStatusIsWriteOneToClear() {
        pm.pressPowerButton();
        assertThat(pm.read(STS, 2)).isEqualTo(AcpiPm.PWRBTN_STS);
        assertThat(sci.level()).isFalse();
        pm.write(EN, 2, AcpiPm.PWRBTN_STS); // PWRBTN_EN is the same bit
        assertThat(pm.read(EN, 2)).isEqualTo(AcpiPm.PWRBTN_STS);
        assertThat(sci.level()).isTrue();

        pm.write(STS, 2, 0);                     // writing 0 changes nothing
        pm.write(STS, 2, ~AcpiPm.PWRBTN_STS & 0xffff); // nor do ones elsewhere
        assertThat(pm.read(STS, 2)).isEqualTo(AcpiPm.PWRBTN_STS);
        assertThat(sci.level()).isTrue();
        pm.write(STS, 2, AcpiPm.PWRBTN_STS);
        assertThat(pm.read(STS, 2)).isZero();
        assertThat(sci.level()).isFalse();
        assertThat(sci.risingEdges()).isEqualTo(1);
        assertThat(powerOffs).hasValue(0);
    }

    @Test
    void dwordAccessSpansStatusAndEnable() {
        pm.pressPowerButton();
        pm.write(STS, 4, (long) AcpiPm.PWRBTN_STS << 16); // enable only; status bits written as 0
        assertThat(pm.read(STS, 4)).isEqualTo((long) AcpiPm.PWRBTN_STS << 16 | AcpiPm.PWRBTN_STS);
        assertThat(sci.level()).isTrue();
        pm.write(STS, 4, (long) AcpiPm.PWRBTN_STS << 16 | AcpiPm.PWRBTN_STS); // clear status, keep enable
        assertThat(pm.read(STS, 4)).isEqualTo((long) AcpiPm.PWRBTN_STS << 16);
        assertThat(sci.level()).isFalse();
        assertThat(pm.read(STS + 1, 1)).isZero();
    }

    @Test
    void pmTimerCountsAt3579545HzAndWrapsAt32Bits() {
        assertThat(pm.read(TMR, 4)).isZero();
        nanos.addAndGet(1_000_000_000L);
        assertThat(pm.read(TMR, 4)).isEqualTo(3_579_545L);
        assertThat(pm.read(TMR + 2, 2)).isEqualTo(3_579_545L >>> 16);
        pm.write(TMR, 4, 0); // read only
        assertThat(pm.timerValue()).isEqualTo(3_579_545L);
        nanos.addAndGet(1_000L);
        assertThat(pm.timerValue()).isEqualTo(3_579_548L); // 1.000001 s * 3579545 Hz = 3579548.58

        // 2^32 ticks is ~1199.86 s; after 1200 s the counter has wrapped.
        nanos.set(5_000_000_000L + 1200L * 1_000_000_000L);
        assertThat(pm.read(TMR, 4)).isEqualTo((1200L * 3_579_545L) & 0xffff_ffffL);
    }

    @Test
    void tmrStsFollowsBit31AndCanRaiseTheSci() {
        pm.write(EN, 2, AcpiPm.TMR_STS); // TMR_EN
        assertThat(pm.read(STS, 2) & AcpiPm.TMR_STS).isZero();
        long toBit31 = (1L << 31) * 1_000_000_000L / AcpiPm.TIMER_HZ + 1_000;
        nanos.addAndGet(toBit31);
        assertThat(pm.read(STS, 2) & AcpiPm.TMR_STS).isEqualTo(AcpiPm.TMR_STS);
        assertThat(sci.level()).isTrue();
        pm.write(STS, 2, AcpiPm.TMR_STS);
        assertThat(pm.read(STS, 2) & AcpiPm.TMR_STS).isZero();
        assertThat(sci.level()).isFalse();
    }

    @Test
    void badAccessesAreHarmless() {
        assertThat(pm.read(AcpiPm.SIZE, 1)).isZero();
        assertThat(pm.read(-1, 1)).isZero();
        assertThat(pm.read(6, 2)).isZero();
        pm.write(AcpiPm.SIZE, 4, -1);
        pm.write(6, 2, -1);
        pm.write(0, 0, -1);
        assertThat(pm.read(STS, 2)).isZero();
        assertThat(powerOffs).hasValue(0);
    }

    @Test
    void stateRoundTrips() {
        pm.pressPowerButton();
        pm.write(EN, 2, AcpiPm.PWRBTN_STS);
        pm.write(CNT, 2, 3 << AcpiPm.SLP_TYP_SHIFT);
        nanos.addAndGet(2_000_000_000L);
        AcpiPm.State s = pm.state();

        RecordingLine sci2 = new RecordingLine();
        AtomicLong other = new AtomicLong(77);
        AcpiPm copy = new AcpiPm(sci2, () -> { }, other::get);
        copy.restore(s);
        assertThat(sci2.level()).isTrue();
        assertThat(copy.read(STS, 4)).isEqualTo(pm.read(STS, 4));
        assertThat(copy.read(CNT, 2)).isEqualTo(pm.read(CNT, 2));
        assertThat(copy.timerValue()).isBetween(2 * 3_579_545L - 1, 2 * 3_579_545L);
        other.addAndGet(1_000_000_000L);
        assertThat(copy.timerValue()).isBetween(3 * 3_579_545L - 1, 3 * 3_579_545L);
    }

    @Test
    void registeredOnThePioBusAtTheFadtPorts() {
        Bus pio = new Bus("pio");
        pio.register(AcpiPm.DEFAULT_BASE, AcpiPm.SIZE, pm);
        AcpiTables t = AcpiTables.builder(1).build(0xe0000);
        byte[] image = t.bytes();
        int fadt = (int) (t.tableAddresses().get("FACP") - 0xe0000);
        int cnt = java.nio.ByteBuffer.wrap(image).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt(fadt + 64);
        // What ACPICA does for S5: SLP_TYPa from \_S5, then SLP_EN, through PM1a_CNT_BLK.
        pio.write(cnt, 2, AcpiPm.SLP_TYP_S5 << AcpiPm.SLP_TYP_SHIFT | AcpiPm.SCI_EN);
        pio.write(cnt, 2, AcpiPm.SLP_TYP_S5 << AcpiPm.SLP_TYP_SHIFT | AcpiPm.SCI_EN | AcpiPm.SLP_EN);
        assertThat(powerOffs).hasValue(1);
    }
}
