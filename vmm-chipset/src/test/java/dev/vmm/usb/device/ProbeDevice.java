package dev.vmm.usb.device;

import dev.vmm.usb.UsbPacket;
import dev.vmm.usb.UsbSpeed;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * A {@link StandardUsbDevice} for tests of the standard part alone: two interfaces (0: bulk IN 1
 * and bulk OUT 1 — one number, two directions —; 1: interrupt IN 3), configuration value 3, its
 * speed, power and remote wake-up attributes as given, and hooks that record what the standard
 * part asked of the function. A data transfer completes at once with its whole buffer, or throws
 * when {@link #failData} is set (a device bug the standard part must contain).
 */
final class ProbeDevice extends StandardUsbDevice {
    static final int CONFIG_VALUE = 3;

    private final int attributes;
    private final UsbSpeed other;
    private final int bcdUsb;
    final List<Integer> transfers = new ArrayList<>();
    final List<Integer> haltsCleared = new ArrayList<>();
    int functionResets;
    boolean failData;
    byte functionState = 0x5a;

    ProbeDevice(UsbSpeed speed, UsbSpeed other, int bcdUsb, int attributes) {
        super(speed, "probe");
        this.other = other;
        this.bcdUsb = bcdUsb;
        this.attributes = attributes;
    }

    /** A high-speed USB 2.0 device, self-powered, with remote wake-up, and a full-speed other self. */
    static ProbeDevice highSpeed() {
        return new ProbeDevice(UsbSpeed.HIGH, UsbSpeed.FULL, 0x0200, 0x60);
    }

    @Override
    protected Descriptors.Identity identity() {
        return new Descriptors.Identity(bcdUsb, 0, 0, 0, 0x1234, 0x5678, 0x0101, 1, 2, 0);
    }

    @Override
    protected Descriptors.Configuration configuration(UsbSpeed speed) {
        int bulk = switch (speed) {
            case SUPER -> 1024;
            case HIGH -> 512;
            default -> 64;
        };
        Descriptors.Companion c = speed.superSpeed() ? new Descriptors.Companion(0, 0, 0) : null;
        return new Descriptors.Configuration(CONFIG_VALUE, 0, attributes, 10, List.of(
                new Descriptors.Interface(0, 0xff, 0, 0, 0, new byte[0], List.of(
                        new Descriptors.Endpoint(0x81, Descriptors.EP_BULK, bulk, 0, c),
                        new Descriptors.Endpoint(0x01, Descriptors.EP_BULK, bulk, 0, c))),
                new Descriptors.Interface(1, 0xff, 0, 0, 0, new byte[0], List.of(
                        new Descriptors.Endpoint(0x83, Descriptors.EP_INTERRUPT, 8, speed == UsbSpeed.FULL ? 10 : 4,
                                speed.superSpeed() ? new Descriptors.Companion(0, 0, 8) : null)))));
    }

    @Override
    protected List<String> strings() {
        return List.of("Probe Maker", "Probe");
    }

    @Override
    protected UsbSpeed otherSpeed() {
        return other;
    }

    @Override
    protected void dataTransfer(UsbPacket p, Descriptors.Endpoint ep) {
        if (failData) throw new IllegalStateException("device bug");
        synchronized (transfers) {
            transfers.add(ep.address());
        }
        p.complete(UsbPacket.Status.SUCCESS, p.data().length);
    }

    @Override
    protected synchronized void resetFunction() {
        functionResets++;
    }

    @Override
    protected synchronized void haltCleared(Descriptors.Endpoint ep) {
        haltsCleared.add(ep.address());
    }

    @Override
    protected void saveFunction(DataOutputStream out) throws IOException {
        out.writeByte(functionState);
    }

    @Override
    protected Runnable loadFunction(DataInputStream in, int version) throws IOException {
        byte b = in.readByte();
        return () -> functionState = b;
    }

    /** The function halts one of its endpoints (as BOT does on a CBW it cannot take). */
    void haltByFunction(int address) {
        halt(endpoint(address & 0x0f, (address & 0x80) != 0));
    }

    /** The protected port helpers, for tests. */
    long now() { return nanoTime(); }

    void askPoll(long deadline) { pollAt(deadline); }

    void wake(int endpoint) { wakeup(endpoint); }

    synchronized int functionResets() {
        return functionResets;
    }

    synchronized List<Integer> haltsCleared() {
        return List.copyOf(haltsCleared);
    }
}
