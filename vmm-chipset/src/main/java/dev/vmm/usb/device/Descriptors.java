package dev.vmm.usb.device;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Builds standard USB descriptors as bytes (USB 2.0 §9.6, USB 3.2 §9.6): device, configuration with
 * its interfaces and endpoints (and SuperSpeed endpoint companions), BOS with the USB 2.0 extension
 * and SuperSpeed device capabilities, and string descriptors. Lengths and wTotalLength are computed
 * here, so a device only states what it is.
 */
public final class Descriptors {
    private Descriptors() {}

    public static final int DEVICE = 1, CONFIGURATION = 2, STRING = 3, INTERFACE = 4, ENDPOINT = 5,
            DEVICE_QUALIFIER = 6, OTHER_SPEED_CONFIGURATION = 7, BOS = 15, DEVICE_CAPABILITY = 16,
            SS_ENDPOINT_COMPANION = 48;
    /** The one language this VMM's devices speak in their strings: English (United States). */
    public static final int LANGID_EN_US = 0x0409;
    /** Endpoint transfer types (bmAttributes bits 1..0). */
    public static final int EP_CONTROL = 0, EP_ISOCHRONOUS = 1, EP_BULK = 2, EP_INTERRUPT = 3;

    /** The identity fields of a device descriptor. */
    public record Identity(int bcdUsb, int deviceClass, int subClass, int protocol, int vendor, int product,
                           int bcdDevice, int iManufacturer, int iProduct, int iSerial) {
    }

    /** An endpoint; {@code companion} is present only in SuperSpeed configurations. */
    public record Endpoint(int address, int type, int maxPacket, int interval, Companion companion) {
        public boolean in() { return (address & 0x80) != 0; }
        public int number() { return address & 0x0f; }
    }

    /** SuperSpeed Endpoint Companion (USB 3.2 §9.6.7): bursts of {@code maxBurst + 1} packets. */
    public record Companion(int maxBurst, int attributes, int bytesPerInterval) {
    }

    /** An interface (alternate setting 0) with class-specific descriptors placed before its endpoints. */
    public record Interface(int number, int interfaceClass, int subClass, int protocol, int iInterface,
                            byte[] classDescriptors, List<Endpoint> endpoints) {
        public Interface {
            classDescriptors = classDescriptors.clone();
            endpoints = List.copyOf(endpoints);
        }
    }

    /** A configuration: bmAttributes bit 6 = self-powered, bit 5 = remote wake-up; bMaxPower in 2 mA (8 mA SuperSpeed) units. */
    public record Configuration(int value, int iConfiguration, int attributes, int maxPower, List<Interface> interfaces) {
        public Configuration {
            interfaces = List.copyOf(interfaces);
        }
        public boolean selfPowered() { return (attributes & 0x40) != 0; }
        public boolean remoteWakeup() { return (attributes & 0x20) != 0; }
    }

    public static byte[] device(Identity id, int maxPacket0, int configurations) {
        Out o = new Out();
        o.u8(18).u8(DEVICE).u16(id.bcdUsb()).u8(id.deviceClass()).u8(id.subClass()).u8(id.protocol())
                .u8(maxPacket0).u16(id.vendor()).u16(id.product()).u16(id.bcdDevice())
                .u8(id.iManufacturer()).u8(id.iProduct()).u8(id.iSerial()).u8(configurations);
        return o.bytes();
    }

    /** A high-speed capable device's Device Qualifier (USB 2.0 §9.6.2): what it would be at the other speed. */
    public static byte[] deviceQualifier(Identity id, int otherSpeedMaxPacket0, int configurations) {
        return new Out().u8(10).u8(DEVICE_QUALIFIER).u16(id.bcdUsb()).u8(id.deviceClass()).u8(id.subClass())
                .u8(id.protocol()).u8(otherSpeedMaxPacket0).u8(configurations).u8(0).bytes();
    }

    /** The whole configuration: configuration, then per interface its descriptor, class descriptors, endpoints. */
    public static byte[] configuration(Configuration c, int descriptorType) {
        Out body = new Out();
        for (Interface i : c.interfaces()) {
            body.u8(9).u8(INTERFACE).u8(i.number()).u8(0).u8(i.endpoints().size())
                    .u8(i.interfaceClass()).u8(i.subClass()).u8(i.protocol()).u8(i.iInterface());
            body.raw(i.classDescriptors());
            for (Endpoint e : i.endpoints()) {
                body.u8(7).u8(ENDPOINT).u8(e.address()).u8(e.type()).u16(e.maxPacket()).u8(e.interval());
                Companion s = e.companion();
                if (s != null) body.u8(6).u8(SS_ENDPOINT_COMPANION).u8(s.maxBurst()).u8(s.attributes()).u16(s.bytesPerInterval());
            }
        }
        byte[] b = body.bytes();
        Out o = new Out();
        o.u8(9).u8(descriptorType).u16(9 + b.length).u8(c.interfaces().size()).u8(c.value())
                .u8(c.iConfiguration()).u8(0x80 | c.attributes()).u8(c.maxPower()).raw(b);
        return o.bytes();
    }

    /**
     * Binary Object Store (USB 3.2 §9.6.2) with a USB 2.0 Extension capability (LPM bit as given)
     * and, for a SuperSpeed device, the SuperSpeed USB capability: speeds supported (full, high,
     * 5 Gb/s), lowest functional speed, U1/U2 exit latencies.
     */
    public static byte[] bos(boolean lpm, boolean superSpeed, int functionalitySupport, int u1ExitLatency, int u2ExitLatency) {
        Out caps = new Out();
        caps.u8(7).u8(DEVICE_CAPABILITY).u8(0x02).u32(lpm ? 0x02 : 0);
        int n = 1;
        if (superSpeed) {
            caps.u8(10).u8(DEVICE_CAPABILITY).u8(0x03).u8(0).u16(0x000e).u8(functionalitySupport)
                    .u8(u1ExitLatency).u16(u2ExitLatency);
            n++;
        }
        byte[] b = caps.bytes();
        return new Out().u8(5).u8(BOS).u16(5 + b.length).u8(n).raw(b).bytes();
    }

    /** String descriptor 0: the supported language ids. */
    public static byte[] languages() {
        return new Out().u8(4).u8(STRING).u16(LANGID_EN_US).bytes();
    }

    /** A string descriptor in UTF-16LE, cut to the 126 characters a one-byte bLength allows. */
    public static byte[] string(String s) {
        byte[] u = s.getBytes(StandardCharsets.UTF_16LE);
        int len = Math.min(u.length, 252);
        Out o = new Out().u8(2 + len).u8(STRING);
        o.out.write(u, 0, len);
        return o.bytes();
    }

    /** A little-endian byte writer. */
    static final class Out {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Out u8(int v) { out.write(v & 0xff); return this; }
        Out u16(int v) { return u8(v).u8(v >>> 8); }
        Out u32(int v) { return u16(v).u16(v >>> 16); }
        Out raw(byte[] b) { out.write(b, 0, b.length); return this; }
        byte[] bytes() { return out.toByteArray(); }
    }
}
