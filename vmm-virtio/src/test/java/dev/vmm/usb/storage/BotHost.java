package dev.vmm.usb.storage;

import dev.vmm.usb.UsbDevice;
import dev.vmm.usb.UsbPacket;
import dev.vmm.usb.UsbPort;
import dev.vmm.usb.UsbSetup;
import dev.vmm.usb.device.DescriptorParser;
import dev.vmm.usb.device.Descriptors;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A host-side Bulk-Only Transport driver for tests: control transfers, enumeration with the
 * descriptors checked, and BOT commands (CBW, data phase, CSW) over bulk IN 1 / OUT 2, driving the
 * {@link UsbDevice} directly as the controller would.
 */
final class BotHost {
    record Result(UsbPacket.Status status, byte[] data) {
        boolean ok() { return status == UsbPacket.Status.SUCCESS; }
    }

    /** One command's outcome: the data-in bytes and the decoded CSW. */
    record Command(byte[] dataIn, int tag, long residue, int status, int signature) {
    }

    final UsbDevice device;

    BotHost(UsbDevice device) {
        this.device = device;
        device.attach(new UsbPort() {
            public int number() { return 5; }
            public void wakeup(int endpoint) { }
        });
    }

    CompletableFuture<UsbPacket> start(int ep, boolean in, UsbSetup setup, byte[] data) {
        CompletableFuture<UsbPacket> f = new CompletableFuture<>();
        device.handle(new UsbPacket(ep, in, setup, data, f::complete));
        return f;
    }

    static Result await(CompletableFuture<UsbPacket> f) {
        try {
            UsbPacket p = f.get(10, TimeUnit.SECONDS);
            return new Result(p.status(), Arrays.copyOf(p.data(), p.actualLength()));
        } catch (Exception e) {
            throw new AssertionError("packet not completed", e);
        }
    }

    Result control(int requestType, int request, int value, int index, int length) {
        boolean in = (requestType & 0x80) != 0;
        return await(start(0, in, new UsbSetup(requestType, request, value, index, length), new byte[length]));
    }

    Result bulk(int ep, boolean in, byte[] data) {
        return await(start(ep, in, null, data));
    }

    Result descriptor(int type, int index, int length) {
        return control(0x80, UsbSetup.GET_DESCRIPTOR, type << 8 | index, type == Descriptors.STRING && index > 0 ? 0x0409 : 0, length);
    }

    /** Enumerates: returns the device descriptor and the parsed configuration (SuperSpeed rules when bcdUSB >= 3.0). */
    DescriptorParser.Parsed enumerate(byte[][] deviceOut) {
        Result dev = descriptor(Descriptors.DEVICE, 0, 18);
        if (!dev.ok() || dev.data().length != 18) throw new AssertionError("device descriptor " + dev);
        deviceOut[0] = dev.data();
        if (!control(0, UsbSetup.SET_ADDRESS, 4, 0, 0).ok()) throw new AssertionError("SET_ADDRESS");
        Result head = descriptor(Descriptors.CONFIGURATION, 0, 9);
        int total = (head.data()[2] & 0xff) | (head.data()[3] & 0xff) << 8;
        Result all = descriptor(Descriptors.CONFIGURATION, 0, total);
        boolean ss = ((dev.data()[3] & 0xff) << 8 | (dev.data()[2] & 0xff)) >= 0x0300;
        DescriptorParser.Parsed p = DescriptorParser.configuration(all.data(), ss);
        if (!control(0, UsbSetup.SET_CONFIGURATION, p.value(), 0, 0).ok()) throw new AssertionError("SET_CONFIGURATION");
        return p;
    }

    static byte[] cbw(int tag, long dataLength, boolean in, int lun, byte... cdb) {
        ByteBuffer b = ByteBuffer.allocate(31).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(CommandBlockWrapper.SIGNATURE).putInt(tag).putInt((int) dataLength).put((byte) (in ? 0x80 : 0))
                .put((byte) lun).put((byte) cdb.length).put(cdb);
        return b.array();
    }

    /** A complete command: CBW, data phase (IN of {@code inLength}, or OUT of {@code out}), CSW. */
    Command command(int tag, byte[] cdb, int inLength, byte[] out) {
        boolean in = out == null;
        Result c = bulk(2, false, cbw(tag, in ? inLength : out.length, in, 0, cdb));
        if (!c.ok()) throw new AssertionError("CBW refused: " + c.status());
        byte[] dataIn = new byte[0];
        if (in && inLength > 0) {
            Result d = bulk(1, true, new byte[inLength]);
            if (!d.ok()) throw new AssertionError("data-in " + d.status());
            dataIn = d.data();
        } else if (!in && out.length > 0) {
            if (!bulk(2, false, out).ok()) throw new AssertionError("data-out");
        }
        return csw(dataIn);
    }

    Command csw(byte[] dataIn) {
        Result s = bulk(1, true, new byte[13]);
        if (!s.ok() || s.data().length != 13) throw new AssertionError("CSW " + s.status() + " " + s.data().length);
        ByteBuffer b = ByteBuffer.wrap(s.data()).order(ByteOrder.LITTLE_ENDIAN);
        return new Command(dataIn, b.getInt(4), b.getInt(8) & 0xffffffffL, b.get(12), b.getInt(0));
    }

    /** Reset recovery (BOT §5.3.4): Bulk-Only Mass Storage Reset, then clear both bulk halts. */
    void resetRecovery() {
        if (!control(0x21, 0xff, 0, 0, 0).ok()) throw new AssertionError("Bulk-Only Mass Storage Reset");
        if (!control(0x02, UsbSetup.CLEAR_FEATURE, 0, 0x81, 0).ok()) throw new AssertionError("clear IN halt");
        if (!control(0x02, UsbSetup.CLEAR_FEATURE, 0, 0x02, 0).ok()) throw new AssertionError("clear OUT halt");
    }
}
