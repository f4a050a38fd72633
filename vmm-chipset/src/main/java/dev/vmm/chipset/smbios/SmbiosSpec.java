package dev.vmm.chipset.smbios;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

/**
 * One {@code --smbios} option, with QEMU's syntax: {@code type=N,key=value,...} where a doubled
 * comma ({@code ,,}) stands for a literal comma in a value. Supported types and keys (QEMU's names):
 *
 * <pre>
 *   type=0   vendor, version, date, release (major.minor)
 *   type=1   manufacturer, product, version, serial, uuid, sku, family
 *   type=3   manufacturer, version, serial, asset, sku
 *   type=4   sock_pfx, manufacturer, version, serial, asset, part, max-speed, current-speed
 *   type=17  loc_pfx, bank, manufacturer, serial, asset, part, speed
 * </pre>
 *
 * Parsing is pure and rejects anything else with an {@link IllegalArgumentException} whose message
 * is one line fit for the user.
 */
public record SmbiosSpec(int type, Map<String, String> fields) {
    static final int MAX_STRING = 255;

    private static final Map<Integer, Set<String>> KEYS = Map.of(
            0, Set.of("vendor", "version", "date", "release"),
            1, Set.of("manufacturer", "product", "version", "serial", "uuid", "sku", "family"),
            3, Set.of("manufacturer", "version", "serial", "asset", "sku"),
            4, Set.of("sock_pfx", "manufacturer", "version", "serial", "asset", "part", "max-speed", "current-speed"),
            17, Set.of("loc_pfx", "bank", "manufacturer", "serial", "asset", "part", "speed"));

    public SmbiosSpec {
        fields = Collections.unmodifiableMap(new LinkedHashMap<>(fields));
    }

    public String get(String key) { return fields.get(key); }

    /** Parses the text after {@code --smbios}. */
    public static SmbiosSpec parse(String text) {
        if (text == null || text.isEmpty()) throw new IllegalArgumentException("--smbios: empty specification");
        Map<String, String> kv = new LinkedHashMap<>();
        for (String part : splitUnescaped(text)) {
            int eq = part.indexOf('=');
            if (eq <= 0) throw new IllegalArgumentException("--smbios: expected key=value, got '" + part + "'");
            String key = part.substring(0, eq);
            String value = part.substring(eq + 1);
            if (kv.put(key, value) != null) throw new IllegalArgumentException("--smbios: '" + key + "' given twice");
        }
        String t = kv.remove("type");
        if (t == null) throw new IllegalArgumentException("--smbios: missing type=N");
        int type;
        try {
            type = Integer.parseInt(t);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--smbios: type must be a number, got '" + t + "'");
        }
        Set<String> allowed = KEYS.get(type);
        if (allowed == null) throw new IllegalArgumentException("--smbios: type " + type + " is not supported (0, 1, 3, 4, 17)");
        for (Map.Entry<String, String> e : kv.entrySet()) {
            String key = e.getKey(), value = e.getValue();
            if (!allowed.contains(key))
                throw new IllegalArgumentException("--smbios type=" + type + ": unknown key '" + key + "' (one of " + sorted(allowed) + ")");
            if (value.isEmpty()) throw new IllegalArgumentException("--smbios type=" + type + ": " + key + " is empty");
            if (value.length() > MAX_STRING || !value.chars().allMatch(c -> c >= 0x20 && c < 0x7f))
                throw new IllegalArgumentException("--smbios type=" + type + ": " + key + " must be at most 255 printable ASCII characters");
            switch (key) {
                case "uuid" -> {
                    if (!value.matches("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"))
                        throw new IllegalArgumentException("--smbios type=1: uuid must look like 01234567-89ab-cdef-0123-456789abcdef");
                }
                case "release" -> {
                    if (!value.matches("\\d{1,3}\\.\\d{1,3}") || Integer.parseInt(value.split("\\.")[0]) > 254
                            || Integer.parseInt(value.split("\\.")[1]) > 254)
                        throw new IllegalArgumentException("--smbios type=0: release must be major.minor, each 0..254");
                }
                case "max-speed", "current-speed", "speed" -> {
                    if (!value.matches("\\d{1,5}") || Integer.parseInt(value) > 0xfffe)
                        throw new IllegalArgumentException("--smbios type=" + type + ": " + key + " must be MHz (MT/s) 0..65534");
                }
                default -> { }
            }
        }
        return new SmbiosSpec(type, kv);
    }

    /** The UUID of a type=1 spec, or null. */
    public UUID uuid() {
        String u = fields.get("uuid");
        return u == null ? null : UUID.fromString(u);
    }

    private static List<String> sorted(Set<String> s) {
        return s.stream().sorted().toList();
    }

    /** Splits at single commas; ",," is a literal comma. */
    static List<String> splitUnescaped(String text) {
        java.util.ArrayList<String> out = new java.util.ArrayList<>();
        StringBuilder cur = new StringBuilder();
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == ',') {
                if (i + 1 < text.length() && text.charAt(i + 1) == ',') {
                    cur.append(',');
                    i++;
                } else {
                    out.add(cur.toString());
                    cur.setLength(0);
                }
            } else {
                cur.append(c);
            }
        }
        out.add(cur.toString());
        return out;
    }
}
