package dev.vmm.config;

import java.util.List;

/** The multiport virtio-console device and its named ports ({@code --console-port}, repeatable). */
public record ConsoleSpec(List<ConsolePortOptions> ports) implements DeviceSpec {
    public ConsoleSpec {
        ports = List.copyOf(ports);
    }
}
