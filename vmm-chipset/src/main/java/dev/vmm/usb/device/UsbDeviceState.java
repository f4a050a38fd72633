package dev.vmm.usb.device;

/** The visible device states of USB 2.0 §9.1.1 once the device is attached and powered. */
public enum UsbDeviceState {
    /** After a reset: answers address 0 only. */
    DEFAULT,
    /** SET_ADDRESS done, no configuration selected. */
    ADDRESS,
    /** SET_CONFIGURATION with the device's configuration value: its function endpoints work. */
    CONFIGURED
}
