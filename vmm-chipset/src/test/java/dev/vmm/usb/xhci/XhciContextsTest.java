package dev.vmm.usb.xhci;

import dev.vmm.usb.UsbSpeed;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static dev.vmm.usb.xhci.XhciDriver.code;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * What the context commands leave in the output Device Context (xHCI 1.2 §4.6.5-§4.6.7, §6.2),
 * for 32- and 64-byte contexts: Address Device copies the input Slot and EP0 contexts and sets the
 * slot state and USB address; Configure Endpoint copies added endpoints, disables dropped ones and
 * takes Context Entries; Evaluate Context takes only Max Exit Latency and Interrupter Target from
 * the Slot Context and Max Packet Size from EP0's, whatever else the input context says.
 */
@Timeout(30)
class XhciContextsTest {
    @ParameterizedTest(name = "64-byte contexts: {0}")
    @ValueSource(booleans = {false, true})
    void contextCommandsWriteTheOutputDeviceContext(boolean contexts64) {
        try (XhciRig rig = new XhciRig(contexts64)) {
            XhciDriver d = rig.driver;
            d.init(8);
            FakeUsbDevice device = new FakeUsbDevice(UsbSpeed.HIGH);
            rig.hc.plug(device, 0);
            XhciDriver.Device dev = XhciEndlessRingTest.enumerate(d);
            int port = d.mem.readU32(dev.inputSlot() + 4) >>> 16;
            var m = d.mem;

            // Address Device.
            assertThat(m.readU32(dev.output)).isEqualTo(m.readU32(dev.inputSlot()));
            assertThat(m.readU32(dev.output + 4) >>> 16 & 0xFF).isEqualTo(port);
            assertThat(dev.slotState()).isEqualTo(Contexts.SLOT_STATE_ADDRESSED);
            assertThat(dev.address()).isEqualTo(dev.slot);
            assertThat(m.readU32(dev.outputEndpoint(1) + 4)).isEqualTo(m.readU32(dev.inputEndpoint(1) + 4));
            assertThat(dev.endpointDequeue(1)).isEqualTo(dev.rings[1].pointer());
            assertThat(m.readU32(dev.outputEndpoint(1) + 16)).isEqualTo(8);
            assertThat(dev.endpointState(1)).isEqualTo(Endpoint.RUNNING);

            // Configure Endpoint: bulk OUT (DCI 2) and bulk IN (DCI 5), Context Entries 5.
            assertThat(code(d.configure(dev, new XhciDriver.EndpointSpec(2, 2, 512), new XhciDriver.EndpointSpec(5, 6, 256))))
                    .isEqualTo(CompletionCode.SUCCESS);
            assertThat(m.readU32(dev.output) >>> 27).isEqualTo(5);
            for (int dci : new int[] {2, 5}) {
                assertThat(m.readU32(dev.outputEndpoint(dci) + 4)).isEqualTo(m.readU32(dev.inputEndpoint(dci) + 4));
                assertThat(dev.endpointDequeue(dci)).isEqualTo(dev.rings[dci].pointer());
                assertThat(m.readU32(dev.outputEndpoint(dci) + 16)).isEqualTo(dci == 2 ? 512 : 256);
                assertThat(dev.endpointState(dci)).isEqualTo(Endpoint.RUNNING);
            }
            assertThat(dev.slotState()).isEqualTo(Contexts.SLOT_STATE_CONFIGURED);

            // Drop DCI 5 (A0: Context Entries 2); DCI 2 stays.
            m.write(dev.input, new byte[33 * d.ctx]);
            m.writeU32(dev.input, 1 << 5);
            m.writeU32(dev.input + 4, 1);
            m.writeU32(dev.inputSlot(), 2 << 27);
            assertThat(code(d.command(Trb.CONFIGURE_ENDPOINT, dev.input, dev.slot << 24))).isEqualTo(CompletionCode.SUCCESS);
            assertThat(dev.endpointState(5)).isEqualTo(Endpoint.DISABLED);
            assertThat(dev.endpointState(2)).isEqualTo(Endpoint.RUNNING);
            assertThat(m.readU32(dev.output) >>> 27).isEqualTo(2);
            assertThat(dev.slotState()).isEqualTo(Contexts.SLOT_STATE_CONFIGURED);
            // Drop the last one: back to Addressed.
            m.writeU32(dev.input, 1 << 2);
            m.writeU32(dev.input + 4, 0);
            assertThat(code(d.command(Trb.CONFIGURE_ENDPOINT, dev.input, dev.slot << 24))).isEqualTo(CompletionCode.SUCCESS);
            assertThat(dev.endpointState(2)).isEqualTo(Endpoint.DISABLED);
            assertThat(dev.slotState()).isEqualTo(Contexts.SLOT_STATE_ADDRESSED);
            assertThat(m.readU32(dev.output) >>> 27).as("Context Entries: A0 was clear").isEqualTo(2);

            // Evaluate Context: Max Exit Latency and EP0's Max Packet Size; the port, the EP type are not taken.
            int slotDw0 = m.readU32(dev.output), slotDw2 = m.readU32(dev.output + 8);
            int ep0Dw1 = m.readU32(dev.outputEndpoint(1) + 4);
            m.write(dev.input, new byte[33 * d.ctx]);
            m.writeU32(dev.input + 4, 3);
            m.writeU32(dev.inputSlot(), 0x1F << 27 | 7);
            m.writeU32(dev.inputSlot() + 4, 9 << 16 | 0x1234);
            m.writeU32(dev.inputSlot() + 8, 3 << 22 | 0x155);      // Interrupter Target 3; the TT fields are not taken
            m.writeU32(dev.inputEndpoint(1) + 4, 512 << 16 | 2 << 3);
            assertThat(code(d.command(Trb.EVALUATE_CONTEXT, dev.input, dev.slot << 24))).isEqualTo(CompletionCode.SUCCESS);
            assertThat(m.readU32(dev.output + 4)).isEqualTo(port << 16 | 0x1234);
            assertThat(m.readU32(dev.output)).isEqualTo(slotDw0);
            assertThat(m.readU32(dev.output + 8)).isEqualTo(3 << 22 | (slotDw2 & 0x3F_FFFF));
            assertThat(m.readU32(dev.outputEndpoint(1) + 4)).isEqualTo(512 << 16 | (ep0Dw1 & 0xFFFF));
            // EP0 only (A1): the Slot Context stays.
            m.writeU32(dev.input + 4, 2);
            m.writeU32(dev.inputSlot() + 4, 0x4321);
            m.writeU32(dev.inputEndpoint(1) + 4, 64 << 16);
            assertThat(code(d.command(Trb.EVALUATE_CONTEXT, dev.input, dev.slot << 24))).isEqualTo(CompletionCode.SUCCESS);
            assertThat(m.readU32(dev.output + 4)).isEqualTo(port << 16 | 0x1234);
            assertThat(m.readU32(dev.outputEndpoint(1) + 4)).isEqualTo(64 << 16 | (ep0Dw1 & 0xFFFF));

            // Reset Device: the device reset; Default, address 0, Context Entries 1, EP0 still there.
            int resets = device.resets;
            assertThat(code(d.command(Trb.RESET_DEVICE, 0, dev.slot << 24))).isEqualTo(CompletionCode.SUCCESS);
            assertThat(device.resets).isEqualTo(resets + 1);
            assertThat(dev.slotState()).isEqualTo(Contexts.SLOT_STATE_DEFAULT);
            assertThat(dev.address()).isZero();
            assertThat(m.readU32(dev.output) >>> 27).isEqualTo(1);
            assertThat(dev.endpointState(1)).isEqualTo(Endpoint.RUNNING);

            // Stop Endpoint on EP0 after a control transfer: Stopped, the dequeue pointer past it.
            long[] at = d.control(dev, XhciDriver.setup(0x80, 6, 0x100, 0, 0), 0, 0, true);
            d.await(e -> XhciDriver.transferEventFor(e, at[2]));
            assertThat(code(d.command(Trb.STOP_ENDPOINT, 0, dev.slot << 24 | 1 << 16))).isEqualTo(CompletionCode.SUCCESS);
            assertThat(dev.endpointState(1)).isEqualTo(Endpoint.STOPPED);
            assertThat(dev.endpointDequeue(1)).isEqualTo((at[2] + 16) | 1);

            // Disable Slot: the output Slot Context's state reads Disabled.
            assertThat(code(d.command(Trb.DISABLE_SLOT, 0, dev.slot << 24))).isEqualTo(CompletionCode.SUCCESS);
            assertThat(m.readU32(dev.output + 12)).isZero();
        }
    }
}
