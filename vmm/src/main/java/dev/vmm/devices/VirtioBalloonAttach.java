package dev.vmm.devices;

import dev.vmm.balloon.MachineBalloon;
import dev.vmm.config.BalloonSpec;
import dev.vmm.virtio.balloon.MadviseBalloonHost;
import dev.vmm.virtio.balloon.VirtioBalloon;
import dev.vmm.virtio.io.IoThread;
import dev.vmm.virtio.pci.VirtioPciDevice;
import dev.vmm.virtio.rng.Scheduler;

/**
 * {@code --balloon}: a virtio-balloon-pci device whose queues run on one I/O thread, where the
 * released pages are given back to the host ({@link MadviseBalloonHost}); QMP reaches it through
 * {@link DeviceRegistry#balloon()}. No host resources to open.
 */
final class VirtioBalloonAttach implements PendingDevice {
    private final BalloonSpec spec;

    private VirtioBalloonAttach(BalloonSpec spec) {
        this.spec = spec;
    }

    static VirtioBalloonAttach open(BalloonSpec spec) {
        return new VirtioBalloonAttach(spec);
    }

    @Override
    public void attach(AttachContext ctx) {
        IoThread io = ctx.ioThreads().get(0);
        VirtioBalloon balloon = new VirtioBalloon(spec.options(), ctx.memory().size(),
                new MadviseBalloonHost(ctx.memory(), spec.sharedRam()), io::execute, Scheduler.shared(),
                () -> System.currentTimeMillis() / 1000, line -> System.err.println("vmm: " + line));
        VirtioPciDevice pci = ctx.virtio().attach(balloon, null);
        ctx.registry().setBalloon(new MachineBalloon(balloon, spec.id(), spec.position()));
        ctx.registry().statsFrom(() -> String.format("%s: status 0x%02x, balloon %d of %d pages, %d MiB given back, %d pages refused%n",
                pci, pci.deviceStatus(), balloon.actualPages(), balloon.targetPages(), balloon.releasedBytes() >> 20,
                balloon.refusedPages()));
    }

    @Override
    public String describe() {
        VirtioBalloon.Options o = spec.options();
        return "virtio-balloon-pci" + (spec.id() == null ? "" : " id=" + spec.id())
                + (o.deflateOnOom() ? " deflate-on-oom" : "") + (o.freePageReporting() ? " free-page-reporting" : "")
                + (spec.sharedRam() ? " (MADV_REMOVE)" : " (MADV_DONTNEED)");
    }

    @Override
    public void close() {
        // nothing opened
    }
}
