package dev.vmm.config;

import dev.vmm.virtio.console.ConsoleControl;

import java.nio.file.Path;

/**
 * The {@code --console-port name=NAME,socket=PATH} / {@code --console-port name=NAME,file=PATH}
 * option (repeatable): a named virtio-console port behind a UNIX socket server or an output file.
 */
public record ConsolePortOptions(String name, Path socket, Path file) {
    public ConsolePortOptions {
        if (name == null || name.isEmpty()) throw new IllegalArgumentException("--console-port needs name=NAME");
        if ((socket == null) == (file == null)) throw new IllegalArgumentException("--console-port needs exactly one of socket=PATH or file=PATH");
        if (name.length() > ConsoleControl.MAX_NAME_BYTES || name.contains("/")) {
            throw new IllegalArgumentException("--console-port name must be at most " + ConsoleControl.MAX_NAME_BYTES + " bytes without '/'");
        }
    }

    public static ConsolePortOptions parse(String text) {
        String name = null;
        Path socket = null, file = null;
        for (String part : text.split(",")) {
            int eq = part.indexOf('=');
            if (eq < 0) throw new IllegalArgumentException("--console-port: expected KEY=VALUE, got '" + part + "'");
            String key = part.substring(0, eq).trim(), value = part.substring(eq + 1).trim();
            switch (key) {
                case "name" -> name = value;
                case "socket" -> socket = Path.of(value);
                case "file" -> file = Path.of(value);
                default -> throw new IllegalArgumentException("--console-port: unknown key '" + key + "' (expected name, socket, file)");
            }
        }
        return new ConsolePortOptions(name, socket, file);
    }
}
