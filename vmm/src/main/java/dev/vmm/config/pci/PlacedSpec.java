package dev.vmm.config.pci;

import dev.vmm.config.ConfigException;
import dev.vmm.config.DeviceSpec;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * A device option with {@code bus=} and/or {@code addr=}: the device's own spec and where its PCI
 * function goes. The two keys are taken out of the option text before the device's parser sees
 * it, so every PCI device option ({@code --disk}, {@code --net}, {@code --scsi}, {@code --rng}...)
 * gains them without its spec changing.
 */
public record PlacedSpec(DeviceSpec device, PciTarget target) implements DeviceSpec {

    /** The option text without {@code bus=}/{@code addr=}, and the target they gave (null if neither). */
    public record Split(String rest, PciTarget target) {}

    public static Split split(String option, String text) {
        Taken t = take(option, text, java.util.Set.of("bus", "addr"));
        if (t.values().isEmpty()) return new Split(text, null);
        return new Split(t.rest(), PciTarget.of(option, t.values().get("bus"), t.values().get("addr")));
    }

    /** The option text without {@code keys}, and their values (each at most once). */
    public record Taken(String rest, Map<String, String> values) {}

    /**
     * Takes {@code keys} out of {@code text} (a key given twice is the user's error); the rest is
     * returned unchanged for the device's own parser.
     */
    public static Taken take(String option, String text, java.util.Set<String> keys) {
        if (text == null || text.isEmpty()) return new Taken(text, Map.of());
        Map<String, String> taken = new LinkedHashMap<>();
        StringBuilder rest = new StringBuilder();
        // ",," escapes a comma inside a value (QEMU), so split on single commas only.
        String[] parts = text.replace(",,", "\u0000").split(",", -1);
        for (String part : parts) {
            int eq = part.indexOf('=');
            String key = eq < 0 ? "" : part.substring(0, eq);
            if (keys.contains(key)) {
                if (taken.put(key, part.substring(eq + 1).replace("\u0000", ",")) != null) {
                    throw new ConfigException(option + ": '" + key + "' given twice");
                }
                continue;
            }
            if (!rest.isEmpty()) rest.append(',');
            rest.append(part.replace("\u0000", ",,"));
        }
        if (taken.isEmpty()) return new Taken(text, Map.of());
        return new Taken(rest.toString(), taken);
    }

    /** Parses {@code text} with {@code parser} after taking the placement out; wraps the spec when there was one. */
    public static DeviceSpec parse(String option, String text, Function<String, ? extends DeviceSpec> parser) {
        Split s = split(option, text);
        DeviceSpec spec = parser.apply(s.rest());
        return s.target() == null ? spec : new PlacedSpec(spec, s.target());
    }
}
