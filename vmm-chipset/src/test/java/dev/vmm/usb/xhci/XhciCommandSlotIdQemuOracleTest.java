package dev.vmm.usb.xhci;

import dev.vmm.chipset.testing.QemuQtest;
import dev.vmm.usb.hid.UsbTablet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;

import static dev.vmm.usb.xhci.XhciDriver.code;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The Slot ID of Command Completion Events, on QEMU 7.2's {@code qemu-xhci} (qtest) and on the
 * model: a No Op with a slot field reports 0, Enable Slot ignores the field and reports the slot
 * it enabled, Disable Slot reports its slot. Nothing is copied from QEMU: both run the same
 * commands and the transcripts must match. Not compared (QEMU and the model differ, see
 * docs/testing.md, Session 11): commands naming a slot that is not enabled (QEMU reports Slot ID
 * 0, and TRB Error for slot 0), Enable Slot past MaxSlotsEn (QEMU enables it), Reset Device on a
 * slot that is only Enabled (QEMU: Success; the model: Context State Error, §4.6.11), endpoint
 * commands for an endpoint that does not exist (QEMU: Endpoint Not Enabled Error; the model:
 * Context State Error).
 */
@Timeout(60)
class XhciCommandSlotIdQemuOracleTest {
    static List<String> script(XhciDriver d) {
        List<String> out = new ArrayList<>();
        d.init(2);
        int[][] commands = {
                {Trb.NOOP_COMMAND, 9},          // a No Op with a slot field: Slot ID 0
                {Trb.ENABLE_SLOT, 7},           // Enable Slot ignores the field
                {Trb.ENABLE_SLOT, 0},
                {Trb.DISABLE_SLOT, 2},
                {Trb.DISABLE_SLOT, 1},
                {Trb.NOOP_COMMAND, 0},
        };
        for (int[] c : commands) {
            Trb e = d.command(c[0], 0, c[1] << 24 | 1 << 16);
            out.add("type " + c[0] + " slot field " + c[1] + ": cc " + code(e) + " slot " + e.slotId());
        }
        return out;
    }

    @Test
    void completionCodesAndSlotIdsMatchQemu() throws Exception {
        QemuQtest.assumeInstalled();
        List<String> qemu = QtestXhciPlatform.transcript("command slot ids", XhciCommandSlotIdQemuOracleTest::script, "-device", "usb-tablet,bus=xhci.0");
        List<String> ours;
        try (XhciRig rig = new XhciRig()) {
            rig.hc.plug(new UsbTablet(), 0);
            ours = script(rig.driver);
        }
        System.out.println("command slot ids: QEMU " + qemu + "\n                  ours " + ours);
        assertThat(ours).containsExactlyElementsOf(qemu);
    }
}
