package dev.vmm.config;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * QEMU-style {@code key=value,key=value} option strings ({@code --disk path=a.img,readonly=on}).
 * A bare first element may stand for a default key ({@code --disk a.img}). Unknown keys, duplicate
 * keys and malformed values are one-line {@link ConfigException}s naming the option.
 */
public final class KeyValueOptions {
    private final String option;
    private final Map<String, String> values;

    private KeyValueOptions(String option, Map<String, String> values) {
        this.option = option;
        this.values = values;
    }

    public static KeyValueOptions parse(String option, String text, String defaultKey, Set<String> allowed) {
        Map<String, String> m = new LinkedHashMap<>();
        if (text.isEmpty()) return new KeyValueOptions(option, m);
        // ",," escapes a comma inside a value, as in QEMU.
        String[] parts = text.replace(",,", "\u0000").split(",", -1);
        for (int i = 0; i < parts.length; i++) {
            String p = parts[i].replace("\u0000", ",");
            int eq = p.indexOf('=');
            String k, v;
            if (eq < 0) {
                if (i == 0 && defaultKey != null) {
                    k = defaultKey;
                    v = p;
                } else {
                    throw new ConfigException(option + ": '" + p + "' is not key=value");
                }
            } else {
                k = p.substring(0, eq);
                v = p.substring(eq + 1);
            }
            if (!allowed.contains(k)) {
                throw new ConfigException(option + ": unknown key '" + k + "' (known: " + String.join(", ", new java.util.TreeSet<>(allowed)) + ")");
            }
            if (m.put(k, v) != null) throw new ConfigException(option + ": '" + k + "' given twice");
        }
        return new KeyValueOptions(option, m);
    }

    public String string(String key, String dflt) {
        return values.getOrDefault(key, dflt);
    }

    public String required(String key) {
        String v = values.get(key);
        if (v == null || v.isEmpty()) throw new ConfigException(option + ": '" + key + "=' is required");
        return v;
    }

    public boolean has(String key) { return values.containsKey(key); }

    public boolean bool(String key, boolean dflt) {
        String v = values.get(key);
        if (v == null) return dflt;
        return switch (v) {
            case "on", "true", "yes", "1" -> true;
            case "off", "false", "no", "0" -> false;
            default -> throw new ConfigException(option + ": " + key + "=" + v + " is not on or off");
        };
    }

    public long number(String key, long dflt, long min, long max) {
        String v = values.get(key);
        if (v == null) return dflt;
        long n;
        try {
            n = dev.vmm.cli.SizeParser.parse(v, 1);
        } catch (RuntimeException e) {
            throw new ConfigException(option + ": " + key + "=" + v + " is not a number");
        }
        if (n < min || n > max) throw new ConfigException(option + ": " + key + " must be between " + min + " and " + max);
        return n;
    }

    public String choice(String key, String dflt, Set<String> choices) {
        String v = values.getOrDefault(key, dflt);
        if (v != null && !choices.contains(v)) {
            throw new ConfigException(option + ": " + key + "=" + v + " is not one of " + String.join("|", new java.util.TreeSet<>(choices)));
        }
        return v;
    }
}
