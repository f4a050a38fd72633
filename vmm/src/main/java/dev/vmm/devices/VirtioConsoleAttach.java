package dev.vmm.devices;

import dev.vmm.config.ConfigException;
import dev.vmm.config.ConsolePortOptions;
import dev.vmm.config.ConsoleSpec;
import dev.vmm.virtio.console.FileBackend;
import dev.vmm.virtio.console.PortBackend;
import dev.vmm.virtio.console.StreamBackend;
import dev.vmm.virtio.console.UnixSocketBackend;
import dev.vmm.virtio.console.VirtioConsole;
import dev.vmm.virtio.pci.VirtioPciDevice;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code --console-port}: the multiport virtio-console device. Port 0 ({@code hvc0}) shares the
 * serial console's output and takes no input (COM1 has stdin); every named port has a socket or a
 * file, opened when the machine is prepared.
 */
final class VirtioConsoleAttach implements PendingDevice {
    private final ConsoleSpec spec;
    private final List<PortBackend> backends;

    private VirtioConsoleAttach(ConsoleSpec spec, List<PortBackend> backends) {
        this.spec = spec;
        this.backends = backends;
    }

    static VirtioConsoleAttach open(ConsoleSpec spec) {
        List<PortBackend> backends = new ArrayList<>();
        try {
            for (ConsolePortOptions p : spec.ports()) {
                try {
                    backends.add(openBackend(p));
                } catch (IOException e) {
                    throw new ConfigException("--console-port name=" + p.name() + ": " + e.getMessage());
                }
            }
        } catch (RuntimeException e) {
            backends.forEach(PortBackend::close);
            throw e;
        }
        return new VirtioConsoleAttach(spec, backends);
    }

    /** A port's host side: a UNIX socket server or an output file. */
    static PortBackend openBackend(ConsolePortOptions p) throws IOException {
        return p.socket() != null ? new UnixSocketBackend(p.socket()) : new FileBackend(p.file());
    }

    @Override
    public void attach(AttachContext ctx) {
        VirtioConsole vc = new VirtioConsole(VirtioConsole.DEFAULT_MAX_PORTS,
                new StreamBackend(InputStream.nullInputStream(), ctx.console(), "hvc0-input"));
        for (int i = 0; i < backends.size(); i++) vc.addPort(spec.ports().get(i).name(), backends.get(i));
        VirtioPciDevice pci = ctx.virtio().attach(vc, null);
        ctx.registry().setConsole(vc);
        ctx.registry().statsFrom(() -> {
            StringBuilder sb = new StringBuilder(String.format("%s: status 0x%02x", pci, pci.deviceStatus()));
            for (VirtioConsole.PortStatus p : vc.ports()) {
                sb.append(String.format(", port %d%s%s%s", p.id(), p.name() == null ? "" : " " + p.name(),
                        p.guestReady() ? " guest-ready" : "", p.guestOpen() ? " guest-open" : ""));
            }
            return sb.append(System.lineSeparator()).toString();
        });
        ctx.registry().closeLater(vc);
    }

    @Override
    public String describe() {
        StringBuilder sb = new StringBuilder("virtio-serial-pci (port 0 hvc0");
        for (ConsolePortOptions p : spec.ports()) {
            sb.append(", ").append(p.name()).append(" on ").append(p.socket() != null ? "socket " + p.socket() : "file " + p.file());
        }
        return sb.append(')').toString();
    }

    @Override
    public void close() {
        backends.forEach(PortBackend::close);
    }
}
