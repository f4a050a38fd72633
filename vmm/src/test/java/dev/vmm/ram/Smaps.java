package dev.vmm.ram;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** The /proc/self/smaps entry of one mapping: its header line and its fields in kB. */
record Smaps(String header, Map<String, Long> kb) {
    /**
     * The entry of the mapping holding {@code address} (the kernel merges adjacent mappings with
     * the same flags into one: a test measures one mapping at a time).
     */
    static Smaps of(long address) throws IOException {
        List<String> lines = Files.readAllLines(Path.of("/proc/self/smaps"));
        for (int i = 0; i < lines.size(); i++) {
            java.util.regex.Matcher h = java.util.regex.Pattern.compile("^([0-9a-f]+)-([0-9a-f]+) ").matcher(lines.get(i));
            if (!h.find()) continue;
            long start = Long.parseUnsignedLong(h.group(1), 16), end = Long.parseUnsignedLong(h.group(2), 16);
            if (address < start || address >= end) continue;
            Map<String, Long> m = new HashMap<>();
            for (int j = i + 1; j < lines.size() && !lines.get(j).matches("^[0-9a-f]+-[0-9a-f]+ .*"); j++) {
                String[] f = lines.get(j).split("\\s+");
                if (f.length >= 2 && f[0].endsWith(":")) {
                    try {
                        m.put(f[0].substring(0, f[0].length() - 1), Long.parseLong(f[1]));
                    } catch (NumberFormatException notANumber) {
                        // VmFlags and the like
                    }
                }
            }
            return new Smaps(lines.get(i), m);
        }
        throw new IllegalStateException("no mapping at 0x" + Long.toHexString(address) + " in /proc/self/smaps");
    }

    long get(String field) { return kb.getOrDefault(field, 0L); }
}
