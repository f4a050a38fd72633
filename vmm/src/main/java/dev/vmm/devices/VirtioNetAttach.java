package dev.vmm.devices;

import dev.vmm.config.ConfigException;
import dev.vmm.config.NetOptions;
import dev.vmm.virtio.net.VirtioNet;
import dev.vmm.virtio.net.tap.Tap;

/** {@code --net}: a multiqueue virtio-net NIC on a tap, created (or attached) when opened, or inherited open ({@code fd=}/{@code fds=}). */
public final class VirtioNetAttach implements PendingDevice {
    private final NetOptions spec;
    private final int index;
    private final Tap tap;
    private final boolean ownsTap;

    private VirtioNetAttach(NetOptions spec, int index, Tap tap, boolean ownsTap) {
        this.spec = spec;
        this.index = index;
        this.tap = tap;
        this.ownsTap = ownsTap;
    }

    /**
     * A NIC on a tap opened elsewhere (a QMP {@code netdev_add} backend, for {@code device_add
     * virtio-net-pci}): the tap stays open when the device goes; its owner closes it ({@code netdev_del}).
     */
    public static PendingDevice overOpenTap(NetOptions spec, int index, Tap tap) {
        return new VirtioNetAttach(spec, index, tap, false);
    }

    static VirtioNetAttach open(NetOptions o, int index, OpenContext ctx) {
        Tap tap;
        try {
            tap = o.fds() != null ? InheritedTap.adopt(o.fds()) : Tap.open(o.tap(), o.queuePairs(ctx.cpus()), o.mtu(), o.bridge());
        } catch (RuntimeException e) {
            throw new ConfigException("--net: " + e.getMessage());
        }
        return new VirtioNetAttach(o, index, tap, true);
    }

    @Override
    public void attach(AttachContext ctx) {
        if (ownsTap) ctx.registry().closeAfterIoThreads(tap);
        VirtioNet net = new VirtioNet(tap, spec.macFor(tap.name()), spec.queueSize(), ctx.ioThreads());
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
    public String qdevId() { return spec.id(); }

    @Override
    public String qdevDriver() { return "virtio-net-pci"; }

    @Override
    public String describe() {
        String fds = spec.fds() == null ? "" : ", inherited fd" + (spec.fds().size() > 1 ? "s " : " ")
                + spec.fds().stream().map(String::valueOf).collect(java.util.stream.Collectors.joining(":"));
        return "virtio-net-pci tap " + tap.name() + " (" + tap.queues() + " queue pair" + (tap.queues() > 1 ? "s" : "")
                + ", mac " + spec.macFor(tap.name()) + (spec.bridge() != null ? ", bridge " + spec.bridge() : "") + fds + ")";
    }

    @Override
    public void close() {
        if (ownsTap) tap.close();
    }
}
