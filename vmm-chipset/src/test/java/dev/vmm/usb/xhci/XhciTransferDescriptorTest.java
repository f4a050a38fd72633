package dev.vmm.usb.xhci;

import dev.vmm.usb.UsbSpeed;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.Arrays;

import static dev.vmm.usb.xhci.XhciDriver.code;
import static dev.vmm.usb.xhci.XhciDriver.residual;
import static dev.vmm.usb.xhci.XhciDriver.transferEventFor;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The limits of a TD at their edges (xHCI 1.2 §4.11.2, §6.4.1): immediate data of exactly 8 bytes
 * and of 9, a buffer that ends at the last byte of RAM and one a byte past it, a zero-length
 * packet whose pointer is anywhere, a TD of exactly 16 MiB and one a byte larger, IN bytes
 * scattered over chained TRBs only as far as the device sent them, and a control transfer whose
 * Data Stage goes on in a chained Normal TRB (and one with a Normal TRB and no Data Stage).
 */
@Timeout(60)
class XhciTransferDescriptorTest {
    static final int OUT = 2, IN = 5;

    XhciRig rig;
    XhciDriver d;
    FakeUsbDevice dev = new FakeUsbDevice(UsbSpeed.HIGH);
    XhciDriver.Device device;

    @BeforeEach
    void setUp() {
        rig = new XhciRig();
        d = rig.driver;
        d.init(8);
        rig.hc.plug(dev, 0);
        device = XhciEndlessRingTest.enumerate(d);
        assertThat(code(d.configure(device, new XhciDriver.EndpointSpec(OUT, 2, 512), new XhciDriver.EndpointSpec(IN, 6, 512))))
                .isEqualTo(CompletionCode.SUCCESS);
        d.events();
        d.backlog.clear();
    }

    @AfterEach
    void tearDown() {
        rig.close();
    }

    /** One Normal TRB with IOC on {@code dci}; its Transfer Event. */
    Trb normal(int dci, long buffer, int length, int flags) {
        long at = device.rings[dci].push(buffer, length, Trb.NORMAL << 10 | Trb.IOC | flags);
        d.doorbell(device, dci);
        return d.await(e -> transferEventFor(e, at));
    }

    /** Set TR Dequeue to a fresh ring after an endpoint went to the Error state. */
    void recover(int dci) {
        assertThat(device.endpointState(dci)).isEqualTo(Endpoint.ERROR);
        device.rings[dci] = d.new Ring(16);
        assertThat(code(d.command(Trb.SET_TR_DEQUEUE, device.rings[dci].pointer(), device.slot << 24 | dci << 16))).isEqualTo(CompletionCode.SUCCESS);
    }

    @Test
    void immediateDataOfEightBytesButNotNine() {
        assertThat(code(normal(OUT, 0x0807_0605_0403_0201L, 8, Trb.IDT))).isEqualTo(CompletionCode.SUCCESS);
        assertThat(dev.bulkOut.toByteArray()).containsExactly(1, 2, 3, 4, 5, 6, 7, 8);
        assertThat(code(normal(OUT, 0, 9, Trb.IDT))).isEqualTo(CompletionCode.TRB_ERROR);
        recover(OUT);
        assertThat(code(normal(IN, 0, 4, Trb.IDT))).as("immediate data on IN").isEqualTo(CompletionCode.TRB_ERROR);
    }

    @Test
    void aBufferEndingAtTheLastByteOfRamButNotPast() {
        long end = XhciRig.RAM_SIZE;
        rig.ram.memory.write(end - 4, new byte[] {9, 8, 7, 6});
        assertThat(code(normal(OUT, end - 4, 4, 0))).isEqualTo(CompletionCode.SUCCESS);
        assertThat(dev.bulkOut.toByteArray()).containsExactly(9, 8, 7, 6);
        assertThat(code(normal(OUT, end - 4, 5, 0))).isEqualTo(CompletionCode.TRB_ERROR);
        recover(OUT);
        // A zero-length packet moves nothing: its pointer is not looked at.
        assertThat(code(normal(OUT, end + 0x1000, 0, 0))).isEqualTo(CompletionCode.SUCCESS);
        assertThat(dev.bulkOut.size()).isEqualTo(4);
    }

    @Test
    void aTdOfExactlySixteenMibButNotMore() {
        device.rings[OUT] = d.new Ring(300);
        assertThat(code(d.command(Trb.STOP_ENDPOINT, 0, device.slot << 24 | OUT << 16))).isEqualTo(CompletionCode.SUCCESS);
        assertThat(code(d.command(Trb.SET_TR_DEQUEUE, device.rings[OUT].pointer(), device.slot << 24 | OUT << 16))).isEqualTo(CompletionCode.SUCCESS);
        long buf = d.alloc(0x10000, 64);
        int trbs = TransferDescriptor.MAX_BYTES / 0x10000;
        long last = 0;
        for (int i = 0; i < trbs; i++) last = device.rings[OUT].push(buf, 0x10000, Trb.NORMAL << 10 | (i < trbs - 1 ? Trb.CHAIN : Trb.IOC));
        d.doorbell(device, OUT);
        long at = last;
        assertThat(code(d.await(e -> transferEventFor(e, at)))).isEqualTo(CompletionCode.SUCCESS);
        assertThat(dev.bulkOut.size()).isEqualTo(TransferDescriptor.MAX_BYTES);
        for (int i = 0; i < trbs; i++) device.rings[OUT].push(buf, 0x10000, Trb.NORMAL << 10 | Trb.CHAIN);
        long extra = device.rings[OUT].push(buf, 1, Trb.NORMAL << 10 | Trb.IOC);
        d.doorbell(device, OUT);
        assertThat(code(d.await(e -> transferEventFor(e, extra)))).isEqualTo(CompletionCode.TRB_ERROR);
    }

    @Test
    void inBytesAreScatteredOnlyAsFarAsTheDeviceSentThem() {
        long a = d.alloc(8, 64), b = d.alloc(8, 64);
        byte[] marks = new byte[8];
        Arrays.fill(marks, (byte) 0xEE);
        d.mem.write(a, marks);
        d.mem.write(b, marks);
        dev.bulkInAnswers.add(new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
        device.rings[IN].push(a, 8, Trb.NORMAL << 10 | Trb.CHAIN);
        long second = device.rings[IN].push(b, 8, Trb.NORMAL << 10 | Trb.IOC | Trb.ISP);
        d.doorbell(device, IN);
        Trb ev = d.await(e -> transferEventFor(e, second));
        assertThat(code(ev)).isEqualTo(CompletionCode.SHORT_PACKET);
        assertThat(residual(ev)).isEqualTo(4);
        assertThat(d.read(a, 8)).containsExactly(1, 2, 3, 4, 5, 6, 7, 8);
        assertThat(d.read(b, 8)).containsExactly(9, 10, 11, 12, 0xEE, 0xEE, 0xEE, 0xEE);
    }

    @Test
    void aControlDataStageGoesOnInAChainedNormalTrb() {
        long a = d.alloc(16, 64), b = d.alloc(32, 64);
        XhciDriver.Ring r = device.rings[1];
        r.push(XhciDriver.setup(0x80, 6, 0x200, 0, 39), 8, Trb.SETUP << 10 | Trb.IDT | 3 << 16);
        r.push(a, 16, Trb.DATA << 10 | Trb.CHAIN | Trb.DATA_IN);
        r.push(b, 23, Trb.NORMAL << 10);
        long status = r.push(0, 0, Trb.STATUS << 10 | Trb.IOC);
        d.doorbell(device, 1);
        assertThat(code(d.await(e -> transferEventFor(e, status)))).isEqualTo(CompletionCode.SUCCESS);
        byte[] config = FakeUsbDevice.configDescriptor();
        assertThat(d.read(a, 16)).containsExactly(Arrays.copyOfRange(config, 0, 16));
        assertThat(d.read(b, 23)).containsExactly(Arrays.copyOfRange(config, 16, 39));
        // A Normal TRB right after the Setup Stage (no Data Stage): TRB Error at it.
        r.push(XhciDriver.setup(0x80, 6, 0x100, 0, 8), 8, Trb.SETUP << 10 | Trb.IDT | 3 << 16);
        long bad = r.push(a, 8, Trb.NORMAL << 10);
        r.push(0, 0, Trb.STATUS << 10 | Trb.IOC);
        d.doorbell(device, 1);
        Trb ev = d.await(e -> e.type() == Trb.TRANSFER_EVENT);
        assertThat(ev.parameter()).isEqualTo(bad);
        assertThat(code(ev)).isEqualTo(CompletionCode.TRB_ERROR);
    }
}
