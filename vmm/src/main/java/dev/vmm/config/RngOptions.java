package dev.vmm.config;

import dev.vmm.virtio.rng.RateLimit;
import dev.vmm.virtio.rng.VirtioRng;

import java.nio.file.Path;

/**
 * The {@code --rng [source=PATH][,rate=BYTES/PERIOD]} option: entropy source (default
 * {@code /dev/urandom}) and an optional rate limit.
 */
public record RngOptions(Path source, RateLimit rate) implements DeviceSpec {
    public RngOptions {
        if (source == null) source = VirtioRng.DEFAULT_SOURCE;
    }

    /** Parses the option value; an empty string gives the defaults. */
    public static RngOptions parse(String text) {
        Path source = null;
        RateLimit rate = null;
        if (text != null && !text.isBlank()) {
            for (String part : text.split(",")) {
                int eq = part.indexOf('=');
                String key = eq < 0 ? part.trim() : part.substring(0, eq).trim();
                String value = eq < 0 ? "" : part.substring(eq + 1).trim();
                switch (key) {
                    case "source" -> {
                        if (value.isEmpty()) throw new IllegalArgumentException("--rng source= needs a path");
                        source = Path.of(value);
                    }
                    case "rate" -> rate = RateLimit.parse(value);
                    default -> throw new IllegalArgumentException("--rng: unknown key '" + key + "' (expected source=PATH, rate=BYTES/PERIOD)");
                }
            }
        }
        return new RngOptions(source, rate);
    }
}
