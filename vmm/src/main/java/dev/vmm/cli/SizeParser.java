package dev.vmm.cli;

import picocli.CommandLine;

/** Sizes like QEMU's: a number with an optional K/M/G/T suffix; a bare number means MiB. */
public final class SizeParser implements CommandLine.ITypeConverter<Long> {
    @Override
    public Long convert(String value) {
        return parse(value, 1L << 20);
    }

    public static long parse(String value, long defaultUnit) {
        String v = value.trim();
        if (v.isEmpty()) throw new CommandLine.TypeConversionException("empty size");
        char last = Character.toUpperCase(v.charAt(v.length() - 1));
        long unit = switch (last) {
            case 'B' -> 1;
            case 'K' -> 1L << 10;
            case 'M' -> 1L << 20;
            case 'G' -> 1L << 30;
            case 'T' -> 1L << 40;
            default -> 0;
        };
        String num = unit == 0 ? v : v.substring(0, v.length() - 1);
        if (unit == 0) unit = defaultUnit;
        try {
            long n = Long.parseLong(num);
            if (n < 0 || n > Long.MAX_VALUE / unit) throw new NumberFormatException();
            return n * unit;
        } catch (NumberFormatException e) {
            throw new CommandLine.TypeConversionException("'" + value + "' is not a size (e.g. 256M, 2G)");
        }
    }
}
