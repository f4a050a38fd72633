package dev.vmm.devices;

import dev.vmm.config.ConfigException;
import dev.vmm.config.NetOptions;
import dev.vmm.virtio.net.VirtioNet;
import dev.vmm.virtio.net.tap.Tap;

/** {@code --net}: a multiqueue virtio-net NIC on a tap, created (or attached) when opened. */
final class VirtioNetAttach implements PendingDevice {
    private final NetOptions spec;
    private final int index;
    private final Tap tap;

    private VirtioNetAttach(NetOptions spec, int index, Tap tap) {
        this.spec = spec;
        this.index = index;
        this.tap = tap;
    }

    static VirtioNetAttach open(NetOptions o, int index, OpenContext ctx) {
        Tap tap;
        try {
            tap = Tap.open(o.tap(), o.queuePairs(ctx.cpus()), o.mtu(), o.bridge());
        } catch (RuntimeException e) {
            throw new ConfigException("--net: " + e.getMessage());
        }
        return new VirtioNetAttach(o, index, tap);
    }

    @Override
    public void attach(AttachContext ctx) {
        ctx.registry().closeAfterIoThreads(tap);
        VirtioNet net = new VirtioNet(tap, spec.macOrDerived(), spec.queueSize(), ctx.ioThreads());
        ctx.virtio().attach(net, net::queueEventFd);
        ctx.registry().closeLater(net);
        String name = "net" + index;
        ctx.registry().statsFrom(() -> net.statsSummary(name));
    }

    @Override
    public java.util.List<dev.vmm.firmware.BootSource> bootSources() {
        return spec.bootIndex() == null ? java.util.List.of() : java.util.List.of(dev.vmm.firmware.BootSource.virtioNet(spec.bootIndex()));
    }

    @Override
    public String describe() {
        return "virtio-net-pci tap " + spec.tap() + " (" + tap.queues() + " queue pair" + (tap.queues() > 1 ? "s" : "")
                + ", mac " + spec.macOrDerived() + (spec.bridge() != null ? ", bridge " + spec.bridge() : "") + ")";
    }

    @Override
    public void close() {
        tap.close();
    }
}
