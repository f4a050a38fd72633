package dev.vmm.virtio.rng;

import java.util.Locale;

/**
 * An entropy rate limit: at most {@code bytes} per {@code periodNanos}, in bursts of at most
 * {@code bytes} (a {@link dev.vmm.ratelimit.TokenBucket}).
 */
public record RateLimit(long bytes, long periodNanos) {
    public RateLimit {
        if (bytes <= 0) throw new IllegalArgumentException("rate limit bytes must be positive: " + bytes);
        if (periodNanos <= 0) throw new IllegalArgumentException("rate limit period must be positive: " + periodNanos);
    }

    /**
     * Parses {@code BYTES/PERIOD}, e.g. {@code 1024/1s}, {@code 65536/500ms}, {@code 64/100us}; a
     * period without unit is milliseconds (as QEMU's rng {@code period}). BYTES may end in k or m
     * (binary multiples).
     */
    public static RateLimit parse(String text) {
        String s = text.trim().toLowerCase(Locale.ROOT);
        int slash = s.indexOf('/');
        if (slash < 0) throw new IllegalArgumentException("rate must be BYTES/PERIOD (e.g. 1024/1s), got '" + text + "'");
        try {
            return new RateLimit(parseBytes(s.substring(0, slash)), parsePeriod(s.substring(slash + 1)));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("rate must be BYTES/PERIOD (e.g. 1024/1s), got '" + text + "'");
        }
    }

    private static long parseBytes(String s) {
        long mult = 1;
        if (s.endsWith("k")) { mult = 1024; s = s.substring(0, s.length() - 1); }
        else if (s.endsWith("m")) { mult = 1024 * 1024; s = s.substring(0, s.length() - 1); }
        return Math.multiplyExact(Long.parseLong(s), mult);
    }

    private static long parsePeriod(String s) {
        long mult;
        if (s.endsWith("ms")) { mult = 1_000_000L; s = s.substring(0, s.length() - 2); }
        else if (s.endsWith("us")) { mult = 1_000L; s = s.substring(0, s.length() - 2); }
        else if (s.endsWith("ns")) { mult = 1L; s = s.substring(0, s.length() - 2); }
        else if (s.endsWith("s")) { mult = 1_000_000_000L; s = s.substring(0, s.length() - 1); }
        else mult = 1_000_000L;
        return Math.multiplyExact(Long.parseLong(s), mult);
    }
}
