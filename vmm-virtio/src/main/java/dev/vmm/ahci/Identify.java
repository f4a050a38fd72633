package dev.vmm.ahci;

import java.nio.charset.StandardCharsets;

/**
 * A 256-word IDENTIFY (PACKET) DEVICE data block (ATA8-ACS §7.16/7.17) under construction: words,
 * byte-swapped ATA strings, and the integrity word (255) that Linux checks.
 */
final class Identify {
    private final int[] words = new int[256];

    Identify set(int word, int value) {
        words[word] = value & 0xFFFF;
        return this;
    }

    /** A 32-bit value over words {@code word} (low) and {@code word+1} (high). */
    Identify set32(int word, long value) {
        set(word, (int) value);
        return set(word + 1, (int) (value >>> 16));
    }

    /** A 64-bit value over words {@code word}..{@code word+3}. */
    Identify set64(int word, long value) {
        for (int i = 0; i < 4; i++) set(word + i, (int) (value >>> (16 * i)));
        return this;
    }

    /**
     * An ATA string of {@code wordCount} words: space padded, two characters per word with the
     * first in the high byte (so a little-endian dump reads it pairwise swapped).
     */
    Identify string(int word, int wordCount, String s) {
        byte[] a = s.getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < wordCount; i++) {
            int hi = 2 * i < a.length ? a[2 * i] & 0xFF : ' ';
            int lo = 2 * i + 1 < a.length ? a[2 * i + 1] & 0xFF : ' ';
            words[word + i] = hi << 8 | lo;
        }
        return this;
    }

    /** The 512 bytes, little-endian, with word 255 = checksum byte << 8 | 0xA5. */
    byte[] bytes() {
        byte[] b = new byte[512];
        for (int i = 0; i < 255; i++) {
            b[2 * i] = (byte) words[i];
            b[2 * i + 1] = (byte) (words[i] >> 8);
        }
        b[510] = (byte) 0xA5;
        int sum = 0;
        for (int i = 0; i < 511; i++) sum += b[i] & 0xFF;
        b[511] = (byte) -sum; // all 512 bytes then sum to 0 mod 256
        return b;
    }

    /** Printable ASCII without control characters, at most {@code max} long (drive strings from the user). */
    static String clean(String s, int max) {
        StringBuilder sb = new StringBuilder();
        for (char c : s.toCharArray()) {
            if (c >= 0x20 && c < 0x7F) sb.append(c);
            if (sb.length() == max) break;
        }
        return sb.toString();
    }
}
