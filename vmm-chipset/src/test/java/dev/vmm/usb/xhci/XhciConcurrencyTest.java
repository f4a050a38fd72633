package dev.vmm.usb.xhci;

import dev.vmm.usb.UsbSpeed;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static dev.vmm.usb.xhci.XhciDriver.code;
import static dev.vmm.usb.xhci.XhciDriver.transferEventFor;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Packets completed on an "I/O thread" while the driver's thread rings doorbells and a third thread
 * reads registers, as vCPUs do: every report arrives once, in order, with its bytes, and nothing
 * deadlocks.
 */
@Timeout(60)
class XhciConcurrencyTest {
    @Test
    void interruptReportsFromAnotherThreadWhileRegistersAreRead() throws Exception {
        try (XhciRig rig = new XhciRig()) {
            XhciDriver d = rig.driver;
            d.patienceNanos = XhciDriver.PATIENT;   // the reports come from the "I/O thread"
            d.init(4);
            FakeUsbDevice dev = new FakeUsbDevice(UsbSpeed.SUPER);
            int port = rig.hc.plug(dev, 0);
            XhciDriver.Device device = d.newDevice();
            assertEquals(CompletionCode.SUCCESS, code(d.address(device, port, UsbSpeed.SUPER, false)));
            assertEquals(CompletionCode.SUCCESS, code(d.configure(device, new XhciDriver.EndpointSpec(7, 7, 8))));
            AtomicBoolean stop = new AtomicBoolean();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread io = Thread.ofPlatform().name("fake-io").start(() -> {
                int n = 0;
                while (!stop.get()) {
                    if (dev.sendReport(new byte[] {(byte) n, (byte) (n >>> 8), 0x55, 0, 0, 0, 0, 0})) n++;
                    else Thread.onSpinWait();
                }
            });
            Thread reader = Thread.ofPlatform().name("fake-vcpu").start(() -> {
                try {
                    while (!stop.get()) {
                        d.reg(XhciDriver.OP + 4);
                        d.portsc(port);
                        d.reg(XhciDriver.RT);
                    }
                } catch (Throwable t) {
                    failure.set(t);
                }
            });
            long buf = d.alloc(8, 64);
            try {
                for (int i = 0; i < 500; i++) {
                    long trb = device.rings[7].push(buf, 8, Trb.NORMAL << 10 | Trb.IOC);
                    d.doorbell(device, 7);
                    Trb ev = d.await(e -> transferEventFor(e, trb));
                    assertEquals(CompletionCode.SUCCESS, code(ev), "report " + i);
                    byte[] got = d.read(buf, 3);
                    assertEquals(i & 0xFF, got[0] & 0xFF);
                    assertEquals((i >>> 8) & 0xFF, got[1] & 0xFF);
                    assertEquals(0x55, got[2]);
                }
            } finally {
                stop.set(true);
                io.join();
                reader.join();
            }
            assertNull(failure.get());
            assertTrue(d.events().stream().noneMatch(e -> e.type() == Trb.TRANSFER_EVENT), "no transfer event beyond the 500 reports");
        }
    }
}
