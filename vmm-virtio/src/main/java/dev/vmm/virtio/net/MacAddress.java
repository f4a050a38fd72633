package dev.vmm.virtio.net;

import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

/** A 48-bit Ethernet address held in the low bits of a long (first octet most significant). */
public record MacAddress(long value) {
    public MacAddress {
        if ((value & ~0xFFFF_FFFF_FFFFL) != 0) throw new IllegalArgumentException("MAC address wider than 48 bits");
    }

    /** Parses {@code xx:xx:xx:xx:xx:xx} (or with '-'); one-line error otherwise. */
    public static MacAddress parse(String text) {
        String[] parts = text.split("[:-]", -1);
        if (parts.length != 6) throw new IllegalArgumentException("MAC address '" + text + "' must be six hex octets like 52:54:00:12:34:56");
        long v = 0;
        for (String p : parts) {
            if (p.length() != 2 || !HexFormat.isHexDigit(p.charAt(0)) || !HexFormat.isHexDigit(p.charAt(1))) {
                throw new IllegalArgumentException("MAC address '" + text + "' must be six hex octets like 52:54:00:12:34:56");
            }
            v = (v << 8) | Integer.parseInt(p, 16);
        }
        return new MacAddress(v);
    }

    public static MacAddress of(byte[] b, int off) {
        long v = 0;
        for (int i = 0; i < 6; i++) v = (v << 8) | (b[off + i] & 0xFF);
        return new MacAddress(v);
    }

    /**
     * A stable, locally administered unicast address derived from {@code seed} (the tap name), so a
     * VM keeps its MAC across restarts without configuration: 52:54:00 (the customary VM prefix) + 24 hash bits.
     */
    public static MacAddress derivedFrom(String seed) {
        int h = 0x811C9DC5;
        for (byte b : seed.getBytes(StandardCharsets.UTF_8)) h = (h ^ (b & 0xFF)) * 0x01000193;
        return new MacAddress(0x5254_0000_0000L | (h & 0xFF_FFFFL));
    }

    public boolean isMulticast() { return ((value >>> 40) & 1) != 0; }

    public boolean isZero() { return value == 0; }

    public byte[] bytes() {
        byte[] b = new byte[6];
        for (int i = 0; i < 6; i++) b[i] = (byte) (value >>> (40 - 8 * i));
        return b;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder(17);
        for (int i = 0; i < 6; i++) {
            if (i > 0) sb.append(':');
            sb.append(HexFormat.of().toHexDigits((byte) (value >>> (40 - 8 * i))));
        }
        return sb.toString();
    }
}
