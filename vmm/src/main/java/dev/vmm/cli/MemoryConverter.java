package dev.vmm.cli;

import dev.vmm.config.ConfigException;
import dev.vmm.config.MemorySpec;
import picocli.CommandLine;

/** {@code --memory SIZE[,key=value...]}: the size as {@link SizeParser} reads it, then the backing keys. */
public final class MemoryConverter implements CommandLine.ITypeConverter<MemorySpec> {
    @Override
    public MemorySpec convert(String value) {
        int comma = value.indexOf(',');
        long bytes = SizeParser.parse(comma < 0 ? value : value.substring(0, comma), 1L << 20);
        try {
            return MemorySpec.parse(bytes, comma < 0 ? "" : value.substring(comma + 1));
        } catch (ConfigException e) {
            throw new CommandLine.TypeConversionException(e.getMessage());
        }
    }
}
