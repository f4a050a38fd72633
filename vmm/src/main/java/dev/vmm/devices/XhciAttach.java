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
    @Override
    public void attach(AttachContext ctx) {
        ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1, VmmThreads.factory(ThreadKind.TIMER, "xhci-timer-"));
        timer.setRemoveOnCancelPolicy(true);
        XhciController controller = new XhciController(ctx.memory(), ctx.virtio().msiSink(), MsixListener.NONE, XhciClock.system(timer));
        ctx.pci().place(controller);
        ctx.registry().setUsbHub(controller);
        ctx.registry().usb().connect(dev.vmm.usb.UsbDeviceSink.of(controller)); // --usb-* devices and device_add usb-*
        ctx.registry().addPart(controller); // snapshots and migration save it (PciDeviceState, section usb/xhci)
        ctx.registry().cannotSaveStateWhile(controller::unsaveable);
        ctx.registry().closeLater(timer::shutdownNow);
    }

    @Override
    public String describe() {
        return "qemu-xhci (4 USB 3 + 4 USB 2 ports)";
    }

    @Override
    public void close() { }
}
