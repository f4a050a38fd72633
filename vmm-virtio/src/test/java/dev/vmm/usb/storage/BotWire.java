package dev.vmm.usb.storage;

import dev.vmm.usb.UsbPacket;
import dev.vmm.usb.UsbSetup;
import dev.vmm.usb.hid.QemuUhciHost;

/**
 * The wire a full-speed host driver sees under a Bulk-Only device: one bulk packet at a time on
 * bulk OUT 2 / IN 1 and the class and standard requests on the default pipe. Two ends: our
 * {@link UsbStorage} driven directly, and QEMU's usb-storage behind its UHCI over qtest, so that
 * {@link BotConversation} can hold the same conversation with both.
 */
interface BotWire {
    /** A bulk OUT packet; false on a STALL handshake. */
    boolean out(byte[] packet);

    /**
     * A bulk IN packet of at most {@code maxLength} bytes: what arrived, or null on a STALL; an
     * {@link IllegalStateException} when the transaction failed otherwise (the device sent none of
     * ACK, NAK, STALL).
     */
    byte[] in(int maxLength);

    /** A control request without data stage (host to device); false on a STALL. */
    boolean control(int requestType, int request, int value, int index);

    /** Ours: packets handed to the device as a controller would, each awaited (bounded). */
    static BotWire ours(BotHost host) {
        return new BotWire() {
            public boolean out(byte[] packet) { return host.bulk(2, false, packet).ok(); }

            public byte[] in(int maxLength) {
                BotHost.Result r = host.bulk(1, true, new byte[maxLength]);
                if (r.status() == UsbPacket.Status.STALL) return null;
                if (!r.ok()) throw new IllegalStateException("bulk IN " + r.status());
                return r.data();
            }

            public boolean control(int requestType, int request, int value, int index) {
                return host.control(requestType, request, value, index, 0).ok();
            }
        };
    }

    /**
     * QEMU's, at USB address {@code addr} on the UHCI: data toggles kept per endpoint as a host
     * controller driver keeps them (flipped per packet acknowledged, DATA0 again after a
     * CLEAR_FEATURE(ENDPOINT_HALT) of that endpoint).
     */
    static BotWire qemu(QemuUhciHost uhci, int addr) {
        return new BotWire() {
            int toggleIn, toggleOut;

            public boolean out(byte[] packet) {
                if (uhci.bulk(addr, 2, toggleOut, packet, 0) == null) return false;
                toggleOut ^= 1;
                return true;
            }

            public byte[] in(int maxLength) {
                byte[] b = uhci.bulk(addr, 1, toggleIn, null, maxLength);
                if (b != null) toggleIn ^= 1;
                return b;
            }

            public boolean control(int requestType, int request, int value, int index) {
                boolean ok = uhci.control(addr, requestType, request, value, index, 0) != null;
                if (ok && request == UsbSetup.CLEAR_FEATURE && value == 0) {
                    if (index == 0x81) toggleIn = 0;
                    if (index == 0x02) toggleOut = 0;
                }
                return ok;
            }
        };
    }
}
