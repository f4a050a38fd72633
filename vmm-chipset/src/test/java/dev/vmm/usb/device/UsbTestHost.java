package dev.vmm.usb.device;

import dev.vmm.usb.UsbDevice;
import dev.vmm.usb.UsbPacket;
import dev.vmm.usb.UsbPort;
import dev.vmm.usb.UsbSetup;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A host-side test driver that talks to a {@link UsbDevice} directly (no controller): control
 * transfers, bulk/interrupt packets, and an enumeration as a host does it, with every descriptor
 * parsed and checked. Counts completions to catch a packet completed twice.
 */
public final class UsbTestHost {
    public record Result(UsbPacket.Status status, byte[] data) {
        public boolean ok() { return status == UsbPacket.Status.SUCCESS; }
    }

    /** What enumeration found. */
    public record Enumerated(byte[] device, DescriptorParser.Parsed configuration, byte[] configBytes, List<String> strings) {
        public int bcdUsb() { return DescriptorParser.u16(device, 2); }
    }

    public final List<Integer> wakeups = new ArrayList<>();
    public final UsbPort port = new UsbPort() {
        public int number() { return 1; }
        public void wakeup(int endpoint) { synchronized (wakeups) { wakeups.add(endpoint); } }
    };

    private final UsbDevice device;

    public UsbTestHost(UsbDevice device) {
        this.device = device;
        device.attach(port);
    }

    public UsbDevice device() { return device; }

    /** A packet whose completion a test can wait for. */
    public static final class Pending {
        public final UsbPacket packet;
        public final CompletableFuture<UsbPacket> done = new CompletableFuture<>();
        private int completions;

        Pending(int ep, boolean in, UsbSetup setup, byte[] data) {
            packet = new UsbPacket(ep, in, setup, data, p -> {
                synchronized (this) {
                    completions++;
                }
                done.complete(p);
            });
        }

        public Result await() {
            try {
                UsbPacket p = done.get(10, TimeUnit.SECONDS);
                return new Result(p.status(), Arrays.copyOf(p.data(), p.actualLength()));
            } catch (Exception e) {
                throw new AssertionError("packet not completed: " + packet, e);
            }
        }

        public synchronized int completions() { return completions; }
    }

    public Result control(int requestType, int request, int value, int index, int length, byte[] out) {
        UsbSetup s = new UsbSetup(requestType, request, value, index, length);
        byte[] data = (requestType & UsbSetup.DIR_IN) != 0 ? new byte[length] : (out == null ? new byte[0] : out);
        Pending p = new Pending(0, s.in(), s, data);
        device.handle(p.packet);
        return p.await();
    }

    public Result controlIn(int requestType, int request, int value, int index, int length) {
        return control(requestType | UsbSetup.DIR_IN, request, value, index, length, null);
    }

    public Result getDescriptor(int type, int index, int langId, int length) {
        return controlIn(0, UsbSetup.GET_DESCRIPTOR, type << 8 | index, langId, length);
    }

    /** Starts a bulk/interrupt transfer; the caller awaits it. */
    public Pending start(int endpoint, boolean in, byte[] data) {
        Pending p = new Pending(endpoint, in, null, data);
        device.handle(p.packet);
        return p;
    }

    public Result transfer(int endpoint, boolean in, byte[] data) {
        return start(endpoint, in, data).await();
    }

    /**
     * Enumerates as a host does: device descriptor (first 8 bytes, then all), SET_ADDRESS,
     * configuration (9 bytes, then wTotalLength), strings, SET_CONFIGURATION; every step checked.
     */
    public Enumerated enumerate(int address) {
        Result head = getDescriptor(Descriptors.DEVICE, 0, 0, 8);
        check(head.ok() && head.data().length == 8, "device descriptor head " + head);
        Result dev = getDescriptor(Descriptors.DEVICE, 0, 0, 64);
        check(dev.ok() && dev.data().length == 18 && dev.data()[0] == 18 && dev.data()[1] == Descriptors.DEVICE, "device descriptor");
        check(control(0, UsbSetup.SET_ADDRESS, address, 0, 0, null).ok(), "SET_ADDRESS");
        Result c9 = getDescriptor(Descriptors.CONFIGURATION, 0, 0, 9);
        check(c9.ok() && c9.data().length == 9, "configuration head");
        int total = DescriptorParser.u16(c9.data(), 2);
        Result all = getDescriptor(Descriptors.CONFIGURATION, 0, 0, total);
        check(all.ok() && all.data().length == total, "configuration of " + total + " bytes");
        boolean superSpeed = DescriptorParser.u16(dev.data(), 2) >= 0x0300;
        DescriptorParser.Parsed parsed = DescriptorParser.configuration(all.data(), superSpeed);
        List<String> strings = new ArrayList<>();
        Result langs = getDescriptor(Descriptors.STRING, 0, 0, 255);
        check(langs.ok() && langs.data().length == 4 && DescriptorParser.u16(langs.data(), 2) == Descriptors.LANGID_EN_US, "language ids");
        for (int i : new int[] {dev.data()[14], dev.data()[15], dev.data()[16]}) {
            if (i == 0) continue;
            Result s = getDescriptor(Descriptors.STRING, i, Descriptors.LANGID_EN_US, 255);
            check(s.ok(), "string " + i);
            strings.add(DescriptorParser.string(s.data()));
        }
        check(control(0, UsbSetup.SET_CONFIGURATION, parsed.value(), 0, 0, null).ok(), "SET_CONFIGURATION");
        return new Enumerated(dev.data(), parsed, all.data(), strings);
    }

    private static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError("enumeration: " + what);
    }
}
