package dev.vmm.devices;

import dev.vmm.config.UsbDeviceSpec;
import dev.vmm.usb.UsbDevice;

/**
 * {@code --usb-storage}, {@code --usb-tablet}, {@code --usb-kbd}: the image is opened (probed,
 * locked) before KVM; attaching creates the device and plugs it into the machine's
 * {@link UsbBus}, which the xHCI controller's attach code connected first.
 */
final class UsbDeviceAttach implements PendingDevice {
    private final UsbDeviceSpec spec;
    private final UsbStorageImage image;

    private UsbDeviceAttach(UsbDeviceSpec spec, UsbStorageImage image) {
        this.spec = spec;
        this.image = image;
    }

    static UsbDeviceAttach open(UsbDeviceSpec spec, OpenContext ctx) {
        if (spec instanceof UsbDeviceSpec.Storage s) {
            return new UsbDeviceAttach(spec, UsbBus.openImage(s.path(), s.format(), s.readOnly(), ctx.deferDiskLocks(), "--usb-storage"));
        }
        return new UsbDeviceAttach(spec, null);
    }

    @Override
    public void attach(AttachContext ctx) {
        UsbBus bus = ctx.registry().usb();
        UsbDevice device = image != null ? bus.storage(image.image(), bus.nextSerial()) : UsbBus.hid(spec.driver());
        try {
            bus.plug(spec.id(), device, image);
        } catch (IllegalStateException e) {
            throw new dev.vmm.config.ConfigException("--" + spec.driver() + ": " + e.getMessage());
        }
    }

    /** Not a PCI function: it goes on the controller's root hub ({@code vmm run --dry-run} lists it under usb). */
    @Override
    public void place(PciPlacement pci, dev.vmm.chipset.pci.PciDevice function) {
    }

    @Override
    public String describe() {
        return spec.driver() + (image != null ? " " + ((UsbDeviceSpec.Storage) spec).path() + " (" + image.image().format()
                + (image.image().readOnly() ? ", read-only" : "") + ", SuperSpeed)" : "");
    }

    @Override
    public void close() {
        if (image != null) image.close();
    }
}
