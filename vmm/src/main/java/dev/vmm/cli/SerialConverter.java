package dev.vmm.cli;

import dev.vmm.machine.MachineConfig;
import picocli.CommandLine;

import java.nio.file.Path;

/** {@code stdio}, {@code file:PATH} or {@code none}. */
public final class SerialConverter implements CommandLine.ITypeConverter<MachineConfig.Serial> {
    @Override
    public MachineConfig.Serial convert(String v) {
        if (v.equals("stdio")) return new MachineConfig.Serial.Stdio();
        if (v.equals("none")) return new MachineConfig.Serial.None();
        if (v.startsWith("file:") && v.length() > 5) return new MachineConfig.Serial.ToFile(Path.of(v.substring(5)));
        throw new CommandLine.TypeConversionException("'" + v + "' is not stdio, file:PATH or none");
    }
}
