package dev.vmm.dump;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.file.Path;
import java.util.Iterator;
import java.util.Set;

/**
 * The arguments of QMP {@code dump-guest-memory} (QAPI dump.json) this VMM supports:
 * {@code paging: false}, {@code protocol: "file:PATH"}, {@code format: "elf"} (the default),
 * {@code detach}. Anything else is refused with a one-line reason.
 */
public record DumpRequest(Path file, boolean detach) {
    private static final Set<String> KNOWN = Set.of("paging", "protocol", "detach", "begin", "length", "format");

    public static DumpRequest parse(JsonNode a) {
        for (Iterator<String> it = a.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!KNOWN.contains(k)) throw new IllegalArgumentException("Parameter '" + k + "' is unexpected");
        }
        JsonNode paging = a.get("paging");
        if (paging == null) throw new IllegalArgumentException("Parameter 'paging' is missing");
        if (!paging.isBoolean()) throw new IllegalArgumentException("Invalid parameter type for 'paging', expected: boolean");
        if (paging.asBoolean()) throw new IllegalArgumentException("paging: true is not supported (the core has physical addresses only)");
        JsonNode protocol = a.get("protocol");
        if (protocol == null) throw new IllegalArgumentException("Parameter 'protocol' is missing");
        if (!protocol.isTextual()) throw new IllegalArgumentException("Invalid parameter type for 'protocol', expected: string");
        String p = protocol.asText();
        if (!p.startsWith("file:") || p.length() == 5) throw new IllegalArgumentException("protocol must be file:PATH");
        if (a.has("begin") || a.has("length")) throw new IllegalArgumentException("begin and length are not supported");
        JsonNode format = a.get("format");
        if (format != null && !(format.isTextual() && format.asText().equals("elf"))) {
            throw new IllegalArgumentException("only format 'elf' is supported");
        }
        JsonNode detach = a.get("detach");
        if (detach != null && !detach.isBoolean()) throw new IllegalArgumentException("Invalid parameter type for 'detach', expected: boolean");
        return new DumpRequest(Path.of(p.substring(5)), detach != null && detach.asBoolean());
    }
}
