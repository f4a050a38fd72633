package dev.vmm.chipset.q35;

import static dev.vmm.chipset.q35.PcieRootPort.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vmm.chipset.pci.PciConfigSpace;
import dev.vmm.chipset.pci.PciDevice;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The root port's native hot-plug slot registers, driven as pciehp drives them. */
class PcieRootPortHotplugTest {
    PcieRootPort rp;
    PciConfigSpace cfg;
    int exp;
    final List<PciDevice> ejected = new ArrayList<>();

    @BeforeEach
    void setUp() {
        rp = new PcieRootPort(3, 2);
        cfg = rp.configSpace();
        exp = rp.expressCapability();
        rp.slotListener(ejected::add);
    }

    int sta() { return cfg.read(exp + EXP_SLTSTA, 2); }

    int ctl() { return cfg.read(exp + EXP_SLTCTL, 2); }

    void writeCtl(int v) { rp.bridge().configWrite(exp + EXP_SLTCTL, 2, v); }

    void writeSta(int v) { rp.bridge().configWrite(exp + EXP_SLTSTA, 2, v); }

    @Test
    void capabilitiesAdvertiseCommandCompletedSupport() {
        int cap = cfg.read(exp + EXP_SLTCAP, 4);
        assertThat(cap & SLTCAP_NCCS).as("command completed is supported").isZero();
        assertThat(cap & (SLTCAP_ABP | SLTCAP_PCP | SLTCAP_AIP | SLTCAP_PIP | SLTCAP_HPC))
                .isEqualTo(SLTCAP_ABP | SLTCAP_PCP | SLTCAP_AIP | SLTCAP_PIP | SLTCAP_HPC);
        assertThat(cap >>> 19).isEqualTo(3);
    }

    @Test
    void everySlotControlWriteSetsCommandCompletedWhichIsWriteOneToClear() {
        assertThat(sta() & SLTSTA_CC).isZero();
        writeCtl(SLTCTL_HPIE | SLTCTL_CCIE | INDICATOR_ON << 8);
        assertThat(sta() & SLTSTA_CC).isEqualTo(SLTSTA_CC);
        assertThat(rp.powerIndicator()).isEqualTo(INDICATOR_ON);
        assertThat(rp.hotplugInterrupt()).as("CC with CCIE+HPIE").isTrue();
        writeSta(0);                                        // writing 0 changes nothing
        assertThat(sta() & SLTSTA_CC).isEqualTo(SLTSTA_CC);
        writeSta(SLTSTA_CC);
        assertThat(sta() & SLTSTA_CC).isZero();
        assertThat(rp.hotplugInterrupt()).isFalse();
    }

    @Test
    void hotPlugRaisesPresenceAndLinkEventsAndTheInterruptWhenEnabled() {
        writeCtl(SLTCTL_HPIE | SLTCTL_PDCE | INDICATOR_OFF << 8 | INDICATOR_OFF << 6 | SLTCTL_PCC);
        writeSta(SLTSTA_CC);
        assertThat(rp.hotplugInterrupt()).isFalse();
        rp.hotPlug(new Q35Test.Endpoint());
        assertThat(sta() & (SLTSTA_PDS | SLTSTA_PDC | SLTSTA_DLLSC)).isEqualTo(SLTSTA_PDS | SLTSTA_PDC | SLTSTA_DLLSC);
        assertThat(cfg.read(exp + EXP_LNKSTA, 2) & LNKSTA_DLLLA).isNotZero();
        assertThat(rp.hotplugInterrupt()).isTrue();
        // Presence detect state is read-only: a write of 1 clears only the change bits.
        writeSta(SLTSTA_PDS | SLTSTA_PDC);
        assertThat(sta() & (SLTSTA_PDS | SLTSTA_PDC)).isEqualTo(SLTSTA_PDS);
        assertThat(rp.hotplugInterrupt()).as("DLLSC is pending but DLLSCE is off").isFalse();
        writeSta(SLTSTA_DLLSC);
        assertThat(sta() & SLTSTA_DLLSC).isZero();
    }

    @Test
    void interruptNeedsHotPlugInterruptEnable() {
        writeCtl(SLTCTL_PDCE);
        rp.hotPlug(new Q35Test.Endpoint());
        assertThat(rp.hotplugInterrupt()).isFalse();
        writeCtl(SLTCTL_PDCE | SLTCTL_HPIE);
        assertThat(rp.hotplugInterrupt()).isTrue();
    }

    @Test
    void attentionButtonThenPowerOffWithIndicatorOffEjects() {
        Q35Test.Endpoint dev = new Q35Test.Endpoint();
        rp.plug(dev);
        writeCtl(SLTCTL_HPIE | SLTCTL_ABPE | INDICATOR_ON << 8 | INDICATOR_OFF << 6);
        writeSta(SLTSTA_CC);
        rp.pressAttentionButton();
        assertThat(sta() & SLTSTA_ABP).isEqualTo(SLTSTA_ABP);
        assertThat(rp.hotplugInterrupt()).isTrue();
        writeSta(SLTSTA_ABP);
        assertThat(sta() & SLTSTA_ABP).isZero();
        assertThat(rp.hotplugInterrupt()).isFalse();
        // pciehp blinks the power indicator for 5 s, then powers off: indicator blink alone ejects nothing.
        writeCtl(SLTCTL_HPIE | SLTCTL_ABPE | INDICATOR_BLINK << 8 | INDICATOR_OFF << 6);
        assertThat(ejected).isEmpty();
        writeCtl(SLTCTL_HPIE | SLTCTL_ABPE | INDICATOR_OFF << 8 | INDICATOR_OFF << 6 | SLTCTL_PCC);
        assertThat(ejected).containsExactly(dev);
        assertThat(rp.occupied()).isFalse();
        assertThat(sta() & (SLTSTA_PDS | SLTSTA_PDC)).isEqualTo(SLTSTA_PDC);
        assertThat(cfg.read(exp + EXP_LNKSTA, 2) & LNKSTA_DLLLA).isZero();
        assertThat(rp.bridge().secondaryBus().isSlotEmpty(0)).as("nothing at 00.0 below the port").isTrue();
        // The slot can take a new device.
        rp.hotPlug(new Q35Test.Endpoint());
        assertThat(rp.occupied()).isTrue();
    }

    @Test
    void powerOffOfAnEmptySlotOrWithTheIndicatorOnEjectsNothing() {
        writeCtl(SLTCTL_PCC | INDICATOR_OFF << 8);
        assertThat(ejected).isEmpty();
        rp.plug(new Q35Test.Endpoint());
        writeCtl(SLTCTL_PCC | INDICATOR_ON << 8);
        assertThat(ejected).isEmpty();
        assertThat(rp.occupied()).isTrue();
    }

    @Test
    void aSecondDeviceInTheSlotIsRefused() {
        rp.plug(new Q35Test.Endpoint());
        assertThatThrownBy(() -> rp.hotPlug(new Q35Test.Endpoint())).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("slot already holds");
    }

    @Test
    void aBlanketClearWithOnesForEventsNotPendingLeavesTheEventsAlone() {
        rp.pressAttentionButton();
        writeSta(0xffff);                                   // ABP pending, the others not: ignored
        assertThat(sta() & SLTSTA_ABP).isEqualTo(SLTSTA_ABP);
        writeSta(SLTSTA_ABP);                               // exactly the pending event: cleared
        assertThat(sta() & SLTSTA_ABP).isZero();
        rp.bridge().configWrite(exp + EXP_SLTSTA + 1, 1, 0xff);   // high byte only: event bits untouched
        rp.pressAttentionButton();
        rp.bridge().configWrite(exp + EXP_SLTSTA + 1, 1, 0xff);
        assertThat(sta() & SLTSTA_ABP).isEqualTo(SLTSTA_ABP);
    }

    @Test
    void slotControlKeepsOnlyTheImplementedBits() {
        writeCtl(0xffff);
        assertThat(ctl()).isEqualTo(SLTCTL_ABPE | SLTCTL_PDCE | SLTCTL_CCIE | SLTCTL_HPIE | SLTCTL_AIC | SLTCTL_PIC | SLTCTL_PCC);
    }
}
