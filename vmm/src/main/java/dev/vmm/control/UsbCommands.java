package dev.vmm.control;

import dev.vmm.devices.UsbBus;
import dev.vmm.devices.UsbDeviceDriver;
import dev.vmm.devices.DeviceRegistry;
import dev.vmm.lifecycle.Lifecycle;
import dev.vmm.lifecycle.RunState;

/**
 * The QMP side of the USB devices: {@code device_add}/{@code device_del} of usb-storage, usb-tablet
 * and usb-kbd (a {@link UsbDeviceDriver} family) and {@code input-send-event} into the machine's
 * tablets and keyboards.
 */
public final class UsbCommands {
    private UsbCommands() {}

    /** @param lifecycle whether input events reach the guest (running or suspended: they wake it) */
    public static void install(QmpServer qmp, DeviceDrivers drivers, DeviceRegistry devices, Lifecycle lifecycle) {
        UsbBus usb = devices.usb();
        drivers.register(new UsbDeviceDriver(usb));
        qmp.register("x-vmm-query-usb", java.util.Set.of(), a -> {
            dev.vmm.usb.UsbHub hub = devices.usbHub();
            if (hub == null) throw QmpServer.QmpException.generic(UsbQuery.NO_CONTROLLER);
            return UsbQuery.describe(hub, usb.plugged());
        });
        InputCommands.install(qmp, usb.inputs(), usb::has, () -> {
            RunState s = lifecycle.state();
            return s == RunState.RUNNING || s == RunState.SUSPENDED;
        });
    }
}
