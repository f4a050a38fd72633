package dev.vmm.cli.codegen;

import java.util.List;

/** Java source text for values: string literals (escaped, ASCII only) and argument lists. */
final class JavaText {
    private JavaText() {}

    static String literal(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20 || c > 0x7e) b.append(String.format("\\u%04x", (int) c));
                    else b.append(c);
                }
            }
        }
        return b.append('"').toString();
    }

    /** {@code "a", "b"}: the literals of {@code values}, comma-separated. */
    static String literals(List<String> values) {
        StringBuilder b = new StringBuilder();
        for (String v : values) {
            if (!b.isEmpty()) b.append(", ");
            b.append(literal(v));
        }
        return b.toString();
    }
}
