package dev.vmm.usb.device;

import java.util.ArrayList;
import java.util.List;

/**
 * Reads descriptors back as a host does and checks their consistency: every descriptor's bLength
 * fits, wTotalLength equals the bytes, bNumInterfaces/bNumEndpoints match what follows, endpoint
 * addresses are unique, a SuperSpeed endpoint companion follows every endpoint of a SuperSpeed
 * configuration and none otherwise, the BOS's capabilities add up. Used by host-side tests and by
 * listings; a failure is an {@link IllegalArgumentException} saying what is wrong.
 */
public final class DescriptorParser {
    private DescriptorParser() {}

    /** The parts of a configuration a host uses. */
    public record Parsed(int value, int attributes, List<Interface> interfaces) {
    }

    public record Interface(int number, int interfaceClass, int subClass, int protocol, List<byte[]> classDescriptors,
                            List<Descriptors.Endpoint> endpoints) {
    }

    /** Parses a whole configuration (or other-speed configuration) descriptor set. */
    public static Parsed configuration(byte[] b, boolean superSpeed) {
        require(b.length >= 9 && (b[0] & 0xff) == 9, "configuration descriptor length");
        int type = b[1] & 0xff;
        require(type == Descriptors.CONFIGURATION || type == Descriptors.OTHER_SPEED_CONFIGURATION, "descriptor type " + type);
        require(u16(b, 2) == b.length, "wTotalLength " + u16(b, 2) + " but " + b.length + " bytes");
        require((b[7] & 0x80) != 0, "bmAttributes bit 7 must be set");
        int numInterfaces = b[4] & 0xff;
        List<Interface> interfaces = new ArrayList<>();
        List<Integer> addresses = new ArrayList<>();
        int at = 9;
        Interface cur = null;
        List<byte[]> classDescs = null;
        List<Descriptors.Endpoint> eps = null;
        int expectEndpoints = 0;
        while (at < b.length) {
            require(at + 2 <= b.length, "truncated descriptor at " + at);
            int len = b[at] & 0xff, t = b[at + 1] & 0xff;
            require(len >= 2 && at + len <= b.length, "descriptor at " + at + " has bLength " + len);
            switch (t) {
                case Descriptors.INTERFACE -> {
                    require(len == 9, "interface bLength " + len);
                    if (cur != null) require(eps.size() == expectEndpoints, "interface " + cur.number() + " announces " + expectEndpoints + " endpoints");
                    classDescs = new ArrayList<>();
                    eps = new ArrayList<>();
                    expectEndpoints = b[at + 4] & 0xff;
                    cur = new Interface(b[at + 2] & 0xff, b[at + 5] & 0xff, b[at + 6] & 0xff, b[at + 7] & 0xff, classDescs, eps);
                    interfaces.add(cur);
                }
                case Descriptors.ENDPOINT -> {
                    require(cur != null && len == 7, "endpoint descriptor at " + at);
                    int addr = b[at + 2] & 0xff;
                    require((addr & 0x70) == 0 && (addr & 0x0f) != 0, "endpoint address " + Integer.toHexString(addr));
                    require(!addresses.contains(addr), "endpoint address " + Integer.toHexString(addr) + " twice");
                    addresses.add(addr);
                    Descriptors.Companion comp = null;
                    int next = at + len;
                    if (superSpeed) {
                        require(next + 6 <= b.length && (b[next] & 0xff) == 6 && (b[next + 1] & 0xff) == Descriptors.SS_ENDPOINT_COMPANION,
                                "endpoint " + Integer.toHexString(addr) + " has no SuperSpeed companion");
                        comp = new Descriptors.Companion(b[next + 2] & 0xff, b[next + 3] & 0xff, u16(b, next + 4));
                        require(comp.maxBurst() <= 15, "bMaxBurst " + comp.maxBurst());
                        len += 6;
                    }
                    eps.add(new Descriptors.Endpoint(addr, b[at + 3] & 0x03, u16(b, at + 4), b[at + 6] & 0xff, comp));
                }
                case Descriptors.SS_ENDPOINT_COMPANION -> throw new IllegalArgumentException("companion without an endpoint"
                        + (superSpeed ? "" : " (or in a non-SuperSpeed configuration)"));
                default -> {
                    require(cur != null, "class descriptor before any interface");
                    classDescs.add(java.util.Arrays.copyOfRange(b, at, at + len));
                }
            }
            at += len;
        }
        if (cur != null) require(eps.size() == expectEndpoints, "interface " + cur.number() + " announces " + expectEndpoints + " endpoints");
        require(interfaces.size() == numInterfaces, "bNumInterfaces " + numInterfaces + " but " + interfaces.size());
        return new Parsed(b[5] & 0xff, b[7] & 0xff, interfaces);
    }

    /** Checks a BOS descriptor and returns its capability types in order. */
    public static List<Integer> bos(byte[] b) {
        require(b.length >= 5 && (b[0] & 0xff) == 5 && (b[1] & 0xff) == Descriptors.BOS, "BOS header");
        require(u16(b, 2) == b.length, "BOS wTotalLength " + u16(b, 2) + " but " + b.length + " bytes");
        List<Integer> caps = new ArrayList<>();
        int at = 5;
        while (at < b.length) {
            int len = b[at] & 0xff;
            require(len >= 3 && at + len <= b.length && (b[at + 1] & 0xff) == Descriptors.DEVICE_CAPABILITY, "capability at " + at);
            int cap = b[at + 2] & 0xff;
            if (cap == 0x02) require(len == 7, "USB 2.0 extension bLength " + len);
            if (cap == 0x03) require(len == 10, "SuperSpeed capability bLength " + len);
            caps.add(cap);
            at += len;
        }
        require(caps.size() == (b[4] & 0xff), "bNumDeviceCaps " + (b[4] & 0xff) + " but " + caps.size());
        return caps;
    }

    /** A string descriptor's text (UTF-16LE after the 2-byte header). */
    public static String string(byte[] b) {
        require(b.length >= 2 && (b[0] & 0xff) == b.length && (b[1] & 0xff) == Descriptors.STRING && b.length % 2 == 0, "string descriptor");
        return new String(b, 2, b.length - 2, java.nio.charset.StandardCharsets.UTF_16LE);
    }

    static int u16(byte[] b, int at) {
        return (b[at] & 0xff) | (b[at + 1] & 0xff) << 8;
    }

    private static void require(boolean ok, String what) {
        if (!ok) throw new IllegalArgumentException(what);
    }
}
