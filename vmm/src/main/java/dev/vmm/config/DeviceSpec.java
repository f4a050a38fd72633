package dev.vmm.config;

/**
 * What one device option asked for: parsed and checked, nothing opened (option records do no I/O).
 * {@code dev.vmm.devices.DeviceKinds} knows, for each kind of spec, the code that opens its host side
 * and attaches the device.
 */
public interface DeviceSpec {
}
