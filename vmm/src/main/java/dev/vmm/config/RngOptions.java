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
        KeyValueOptions o = KeyValueOptions.parse("--rng", text == null ? "" : text.strip(), null, java.util.Set.of("source", "rate"));
        Path source = o.has("source") ? Path.of(o.required("source")) : null;
        RateLimit rate = null;
        if (o.has("rate")) {
            try {
                rate = RateLimit.parse(o.required("rate"));
            } catch (IllegalArgumentException e) {
                throw new ConfigException("--rng: rate: " + e.getMessage());
            }
        }
        return new RngOptions(source, rate);
    }
}
