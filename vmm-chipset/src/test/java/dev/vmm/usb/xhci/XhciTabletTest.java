package dev.vmm.usb.xhci;

import dev.vmm.input.InputEvent;
import dev.vmm.usb.UsbSetup;
import dev.vmm.usb.UsbSpeed;
import dev.vmm.usb.device.DescriptorParser;
import dev.vmm.usb.hid.UsbTablet;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.concurrent.TimeUnit;

import static dev.vmm.usb.xhci.XhciDriver.code;
import static dev.vmm.usb.xhci.XhciDriver.setup;
import static dev.vmm.usb.xhci.XhciDriver.transferEventFor;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The controller and a real device together, as a guest's xHCI driver sees them: the usb-tablet is
 * plugged into the qemu-xhci model, enumerated through its rings (port reset, Address Device,
 * descriptors, SET_CONFIGURATION, Configure Endpoint), and an input event becomes the report the
 * interrupt IN transfer completes with. Nothing in between is faked.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class XhciTabletTest {
    private final XhciRig rig = new XhciRig();
    private final XhciDriver d = rig.driver;

    @AfterEach
    void tearDown() {
        rig.close();
    }

    private byte[] controlIn(XhciDriver.Device device, int request, int value, int length) {
        long buf = d.alloc(Math.max(length, 8), 64);
        long[] at = d.control(device, setup(0x80, request, value, 0, length), buf, length, true);
        Trb status = d.await(e -> transferEventFor(e, at[2]));
        assertThat(code(status)).isEqualTo(CompletionCode.SUCCESS);
        return d.read(buf, length);
    }

    @Test
    void tabletEnumeratesAndReportsAnInputEventThroughTheRings() {
        d.init(8);
        UsbTablet tablet = new UsbTablet();
        int port = rig.hc.plug(tablet, 0);
        d.await(e -> e.type() == Trb.PORT_STATUS_CHANGE_EVENT);
        assertThat(d.portsc(port) & RootHubPort.CCS).isEqualTo(RootHubPort.CCS);
        assertThat((d.portsc(port) >>> 10) & 0xF).as("port speed").isEqualTo(tablet.speed().xhciSpeedId);
        d.portsc(port, RootHubPort.PP | RootHubPort.CSC | RootHubPort.PR);
        d.await(e -> e.type() == Trb.PORT_STATUS_CHANGE_EVENT);
        d.portsc(port, RootHubPort.PP | RootHubPort.PRC);

        XhciDriver.Device device = d.newDevice();
        assertThat(code(d.address(device, port, tablet.speed(), false))).isEqualTo(CompletionCode.SUCCESS);

        byte[] dd = controlIn(device, UsbSetup.GET_DESCRIPTOR, 0x0100, 18);
        assertThat(dd[0]).isEqualTo((byte) 18);
        assertThat(dd[1]).isEqualTo((byte) 1);
        byte[] head = controlIn(device, UsbSetup.GET_DESCRIPTOR, 0x0200, 9);
        int total = (head[2] & 0xff) | (head[3] & 0xff) << 8;
        DescriptorParser.Parsed config = DescriptorParser.configuration(
                controlIn(device, UsbSetup.GET_DESCRIPTOR, 0x0200, total), tablet.speed() == UsbSpeed.SUPER);
        assertThat(config.interfaces()).hasSize(1);
        assertThat(config.interfaces().getFirst().interfaceClass()).as("HID").isEqualTo(3);

        long[] set = d.control(device, setup(0, UsbSetup.SET_CONFIGURATION, config.value(), 0, 0), 0, 0, false);
        assertThat(code(d.await(e -> transferEventFor(e, set[2])))).isEqualTo(CompletionCode.SUCCESS);
        int dci = 3; // endpoint 1 IN
        assertThat(code(d.configure(device, new XhciDriver.EndpointSpec(dci, 7, 8)))).isEqualTo(CompletionCode.SUCCESS);

        long buf = d.alloc(8, 64);
        long trb = device.rings[dci].push(buf, 8, Trb.NORMAL << 10 | Trb.IOC | Trb.ISP);
        d.doorbell(device, dci);
        tablet.event(new InputEvent.Move(true, InputEvent.Axis.X, 0x4000));
        tablet.event(new InputEvent.Move(true, InputEvent.Axis.Y, 0x1234));
        tablet.event(new InputEvent.Btn(InputEvent.Button.LEFT, true));
        tablet.sync();
        Trb report = d.await(e -> transferEventFor(e, trb));
        assertThat(code(report)).isIn(CompletionCode.SUCCESS, CompletionCode.SHORT_PACKET);
        int length = 8 - XhciDriver.residual(report);
        assertThat(length).as("tablet report length").isEqualTo(6);
        assertThat(d.read(buf, 6)).containsExactly(1, 0x00, 0x40, 0x34, 0x12, 0);
    }
}
