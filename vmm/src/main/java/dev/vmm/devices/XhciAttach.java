package dev.vmm.devices;

import dev.vmm.chipset.pci.MsixListener;
import dev.vmm.threads.ThreadKind;
import dev.vmm.threads.VmmThreads;
import dev.vmm.usb.UsbHub;
import dev.vmm.usb.xhci.XhciClock;
import dev.vmm.usb.xhci.XhciController;

import java.util.concurrent.ScheduledThreadPoolExecutor;

/**
 * {@code --usb}: the {@code qemu-xhci} controller on the next free PCI slot. MSI-X messages go
 * through the machine's GSI routing; interrupt moderation fires held-back interrupts from one
 * timer thread. The controller's root hub is registered as the machine's {@link UsbHub}
 * ({@link DeviceRegistry#usbHub()}), where USB devices are plugged in and out. Snapshots and
 * migration carry its state and its devices' (registered as a registry part).
 */
final class XhciAttach implements PendingDevice {
    private final java.util.List<dev.vmm.firmware.BootSource> bootSources;

    private XhciAttach(java.util.List<dev.vmm.firmware.BootSource> bootSources) {
        this.bootSources = bootSources;
    }

    /**
     * The controller of a command line with {@code specs}. The {@code bootindex} of each
     * {@code --usb-storage} is a boot source on the controller's function: the devices are plugged
     * in option order and each SuperSpeed one takes the first free USB 3 port, so the k-th storage
     * device is on root hub port k — known here, before anything is built (the dry run shows it).
     */
    static XhciAttach of(java.util.List<dev.vmm.config.DeviceSpec> specs) {
        java.util.List<dev.vmm.firmware.BootSource> sources = new java.util.ArrayList<>();
        int port = 0;
        for (dev.vmm.config.DeviceSpec s : specs) {
            if (!(s instanceof dev.vmm.config.UsbDeviceSpec.Storage storage)) continue;
            port++;   // USB 3 ports are 1-4 (a fifth storage device is refused when it is plugged)
            if (storage.bootIndex() != null) sources.add(dev.vmm.firmware.BootSource.usbStorage(storage.bootIndex(), port));
        }
        return new XhciAttach(java.util.List.copyOf(sources));
    }

    @Override
    public java.util.List<dev.vmm.firmware.BootSource> bootSources() {
        return bootSources;
    }
    @Override
    public void attach(AttachContext ctx) {
        ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1, VmmThreads.factory(ThreadKind.TIMER, "xhci-timer-"));
        timer.setRemoveOnCancelPolicy(true);
        XhciController controller = new XhciController(ctx.memory(), ctx.virtio().msiSink(), MsixListener.NONE, XhciClock.system(timer));
        ctx.pci().place(controller);
        ctx.registry().setUsbHub(controller);
        ctx.registry().usb().connect(dev.vmm.usb.UsbDeviceSink.of(controller)); // --usb-* devices and device_add usb-*
        ctx.registry().addDiskLocks(ctx.registry().usb().diskLocks()); // usb-storage images: live-migration hand-over
        ctx.registry().addPart(controller); // snapshots and migration save it (PciDeviceState, section usb/xhci)
        ctx.registry().cannotSaveStateWhile(controller::unsaveable);
        ctx.registry().closeLater(timer::shutdownNow);
        ctx.registry().addPart(dev.vmm.power.WakeResettable.xhci(controller)); // S3 wake: QEMU resets the controller
    }

    @Override
    public String describe() {
        return "qemu-xhci (4 USB 3 + 4 USB 2 ports)";
    }

    @Override
    public void close() { }
}
