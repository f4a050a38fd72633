package dev.vmm.chipset.firmware;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Objects;

/**
 * What every firmware table the VMM writes (ACPI, MP, SMBIOS) needs: the 8-bit checksum that makes
 * a range sum to zero, and the space-padded printable-ASCII identifier fields (OEM ids, product
 * ids, bus type names).
 */
public final class TableBytes {
    private TableBytes() {}

    /** The byte that makes {@code b[off..off+len)} sum to zero, given that byte currently holds 0. */
    public static byte checksum(byte[] b, int off, int len) {
        return (byte) -sum(b, off, len);
    }

    /** Whether {@code b[off..off+len)} sums to zero modulo 256 (a table as a guest checks it). */
    public static boolean sumsToZero(byte[] b, int off, int len) {
        return (sum(b, off, len) & 0xff) == 0;
    }

    private static int sum(byte[] b, int off, int len) {
        int sum = 0;
        for (int i = 0; i < len; i++) sum += b[off + i];
        return sum;
    }

    /** {@code s}, if it is at most {@code max} printable ASCII characters; else an error naming {@code what}. */
    public static String checkAscii(String s, int max, String what) {
        Objects.requireNonNull(s, what);
        if (s.length() > max || !s.chars().allMatch(c -> c >= 0x20 && c < 0x7f))
            throw new IllegalArgumentException(what + " must be at most " + max + " printable ASCII characters: " + s);
        return s;
    }

    /** {@code s} in a {@code len}-byte field, padded with spaces. */
    public static byte[] spacePadded(String s, int len) {
        byte[] out = new byte[len];
        Arrays.fill(out, (byte) ' ');
        byte[] src = s.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(src, 0, out, 0, src.length);
        return out;
    }
}
