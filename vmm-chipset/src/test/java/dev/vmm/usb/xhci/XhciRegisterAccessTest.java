package dev.vmm.usb.xhci;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * BAR0 accesses of every width (xHCI 1.2 §5.1: capability registers by byte, word or dword,
 * 64-bit registers as a qword or two dwords), MFINDEX (§5.5.1: 125 µs microframes, 14 bits, 0
 * while halted), what HCRST clears (§5.4.1), USBSTS's write-1-to-clear bits, and a controller
 * in Host Controller Error that will not run again until HCRST.
 */
@Timeout(30)
class XhciRegisterAccessTest {
    static final int OP = XhciDriver.OP;
    final XhciRig rig = new XhciRig();
    final XhciController hc = rig.hc;

    @AfterEach
    void close() {
        rig.close();
    }

    @Test
    void readsAndWritesOfEveryWidth() {
        long cap = hc.barRead(0, 0, 4);
        assertThat(hc.barRead(0, 0, 1)).isEqualTo(cap & 0xFF);                      // CAPLENGTH
        assertThat(hc.barRead(0, 2, 2)).isEqualTo(cap >>> 16);                      // HCIVERSION
        assertThat(hc.barRead(0, 1, 1)).isEqualTo(cap >>> 8 & 0xFF);
        assertThat(hc.barRead(0, 3, 1)).isEqualTo(cap >>> 24);
        assertThat(hc.barRead(0, 4, 8)).isEqualTo(hc.barRead(0, 4, 4) | hc.barRead(0, 8, 4) << 32);
        // DCBAAP as one qword, read back as two dwords and as a qword.
        hc.barWrite(0, OP + 0x30, 8, 0x1234_5678_9ABC_DEC0L);
        assertThat(hc.barRead(0, OP + 0x30, 4)).isEqualTo(0x9ABC_DEC0L);
        assertThat(hc.barRead(0, OP + 0x34, 4)).isEqualTo(0x1234_5678L);
        assertThat(hc.barRead(0, OP + 0x30, 8)).isEqualTo(0x1234_5678_9ABC_DEC0L);
        assertThat(hc.barRead(0, OP + 0x31, 1)).isEqualTo(0xDEL);
        // Sub-dword and unaligned writes are dropped (the operational registers are dwords).
        hc.barWrite(0, OP + 0x38, 1, 5);
        hc.barWrite(0, OP + 0x39, 4, 5);
        hc.barWrite(0, OP + 0x38, 2, 5);
        assertThat(hc.barRead(0, OP + 0x38, 4)).isZero();
        hc.barWrite(0, OP + 0x38, 4, 0xFFFF_FF07L);
        assertThat(hc.barRead(0, OP + 0x38, 4)).as("CONFIG: MaxSlotsEn").isEqualTo(0x07);
        hc.barWrite(0, OP + 0x14, 4, 0xFFFF_FFFFL);
        assertThat(hc.barRead(0, OP + 0x14, 4)).as("DNCTRL").isEqualTo(0xFFFF);
        assertThat(hc.barRead(0, OP + 0x08, 4)).as("PAGESIZE: 4 KiB").isEqualTo(1);
        // Outside BAR0, another BAR, doorbells: read 0.
        assertThat(hc.barRead(0, XhciController.BAR_SIZE, 4)).isZero();
        assertThat(hc.barRead(0, -4, 4)).isZero();
        assertThat(hc.barRead(2, 0, 4)).isZero();
        assertThat(hc.barRead(0, XhciDriver.DB, 4)).isZero();
        hc.barWrite(2, OP + 0x38, 4, 3);
        hc.barWrite(0, -4, 4, 3);
        hc.barWrite(0, XhciController.BAR_SIZE, 4, 3);
        assertThat(hc.barRead(0, OP + 0x38, 4)).isEqualTo(0x07);
        // The port registers: PORTSC of port 1 at 0x440, nothing between the port sets.
        assertThat(hc.barRead(0, OP + 0x400, 4) & RootHubPort.PP).isEqualTo(RootHubPort.PP);
        assertThat(hc.barRead(0, OP + 0x404, 4)).isZero();
        assertThat(hc.barRead(0, OP + 0x400 + 8 * 0x10, 4)).as("no port 9").isZero();
        // Interrupter registers: interrupter 15 is the last.
        hc.barWrite(0, XhciDriver.IR0 + 15 * 0x20 + 4, 4, 0x55);
        assertThat(hc.barRead(0, XhciDriver.IR0 + 15 * 0x20 + 4, 4)).isEqualTo(0x55);
        assertThat(hc.barRead(0, XhciDriver.IR0 + 16 * 0x20 + 4, 4)).isZero();
        assertThat(hc.barRead(0, XhciDriver.RT + 4, 4)).as("runtime reserved").isZero();
    }

    @Test
    void mfindexCountsMicroframesWhileRunning() {
        XhciDriver d = rig.driver;
        d.init(4);
        int mf = XhciDriver.RT;
        assertThat(d.reg(mf)).isZero();
        rig.clock.advance(1_000_000);                     // 1 ms: 8 microframes
        assertThat(d.reg(mf)).isEqualTo(8);
        rig.clock.advance(124_999);
        assertThat(d.reg(mf)).isEqualTo(8);
        rig.clock.advance(1);
        assertThat(d.reg(mf)).isEqualTo(9);
        rig.clock.advance(2_048_000_000L);                // 16384 microframes: 14 bits wrap
        assertThat(d.reg(mf)).isEqualTo(9);
        d.reg(OP, 0);                                      // Run/Stop 0
        assertThat(d.usbsts() & XhciController.STS_HCH).isEqualTo(XhciController.STS_HCH);
        assertThat(d.reg(mf)).isZero();
        d.reg(OP, XhciController.CMD_RS);
        assertThat(d.usbsts() & XhciController.STS_HCH).isZero();
        assertThat(d.reg(mf)).as("counts from the new Run").isZero();
    }

    @Test
    void hcrstClearsTheOperationalRegistersAndUsbstsBitsAreWriteOneToClear() {
        XhciDriver d = rig.driver;
        d.init(4);
        d.reg(OP + 0x14, 0x1234);
        rig.hc.plug(new FakeUsbDevice(dev.vmm.usb.UsbSpeed.SUPER), 0);
        int sts = d.usbsts();
        assertThat(sts & (XhciController.STS_EINT | XhciController.STS_PCD)).isEqualTo(XhciController.STS_EINT | XhciController.STS_PCD);
        d.reg(OP + 4, XhciController.STS_PCD);
        assertThat(d.usbsts() & (XhciController.STS_EINT | XhciController.STS_PCD)).isEqualTo(XhciController.STS_EINT);
        d.reg(OP + 4, XhciController.STS_HCH | XhciController.STS_EINT);
        assertThat(d.usbsts()).as("HCH is not writable").isZero();
        d.reg(OP, XhciController.CMD_HCRST);
        assertThat(d.reg(OP)).isZero();
        assertThat(d.usbsts()).isEqualTo(XhciController.STS_HCH);
        for (int off : new int[] {0x14, 0x18, 0x1C, 0x30, 0x34, 0x38}) assertThat(d.reg(OP + off)).as("op 0x%x", off).isZero();
        assertThat(d.reg(XhciDriver.IR0 + 0x10)).as("ERSTBA").isZero();
        assertThat(d.reg(XhciDriver.IR0)).as("IMAN").isZero();
    }

    @Test
    void aHostControllerErrorStaysHaltedUntilHcrst() {
        XhciDriver d = rig.driver;
        d.init(4);
        d.reg(XhciDriver.IR0 + 0x08, 0);                  // ERSTSZ 0, then ERSTBA: no event ring
        d.reg64(XhciDriver.IR0 + 0x10, d.erst);
        d.commands.push(0, 0, Trb.NOOP_COMMAND << 10);
        d.reg(XhciDriver.DB, 0);
        assertThat(d.usbsts() & (XhciController.STS_HCE | XhciController.STS_HCH)).isEqualTo(XhciController.STS_HCE | XhciController.STS_HCH);
        assertThat(d.reg(OP) & XhciController.CMD_RS).as("Run/Stop cleared").isZero();
        d.reg(OP, XhciController.CMD_RS | XhciController.CMD_INTE);
        assertThat(d.reg(OP) & XhciController.CMD_RS).as("no Run while HCE").isZero();
        assertThat(d.usbsts() & XhciController.STS_HCH).isEqualTo(XhciController.STS_HCH);
        d.reg(OP + 4, XhciController.STS_HCE);
        assertThat(d.usbsts() & XhciController.STS_HCE).as("HCE is not write-1-to-clear").isEqualTo(XhciController.STS_HCE);
        d.init(4);
        assertThat(d.usbsts() & (XhciController.STS_HCE | XhciController.STS_HCH)).isZero();
    }
}
