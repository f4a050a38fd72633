package dev.vmm.config;

import dev.vmm.virtio.console.ConsoleControl;

import java.nio.file.Path;

/**
 * The {@code --console-port name=NAME,socket=PATH} / {@code --console-port name=NAME,file=PATH}
 * option (repeatable): a named virtio-console port behind a UNIX socket server or an output file.
 */
public record ConsolePortOptions(String name, Path socket, Path file) {
    public ConsolePortOptions {
        if (name == null || name.isEmpty()) throw new ConfigException("--console-port: 'name=' is required");
        if ((socket == null) == (file == null)) throw new ConfigException("--console-port: needs exactly one of socket=PATH or file=PATH");
        if (name.length() > ConsoleControl.MAX_NAME_BYTES || name.contains("/")) {
            throw new ConfigException("--console-port: name must be at most " + ConsoleControl.MAX_NAME_BYTES + " bytes without '/'");
        }
    }

    public static ConsolePortOptions parse(String text) {
        KeyValueOptions o = KeyValueOptions.parse("--console-port", text == null ? "" : text, null, java.util.Set.of("name", "socket", "file"));
        return new ConsolePortOptions(o.string("name", null), o.has("socket") ? Path.of(o.required("socket")) : null,
                o.has("file") ? Path.of(o.required("file")) : null);
    }
}
