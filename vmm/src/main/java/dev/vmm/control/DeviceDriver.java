package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * One family of QMP {@code device_add} drivers (QEMU's {@code -device} names: {@code virtserialport},
 * {@code virtio-blk-pci}, {@code usb-tablet}...). {@link DeviceDrivers} owns the two QMP commands and
 * asks each registered family in turn; a family knows only its own devices.
 */
public interface DeviceDriver {
    /** The driver names this family accepts in {@code device_add}. */
    Set<String> drivers();

    /**
     * Creates and plugs the device. {@code id} is the caller's id or null (QEMU then names the device
     * itself, and it cannot be deleted by id). Arguments are the whole {@code device_add} object,
     * already checked for a textual {@code driver}; the family validates the rest and refuses with
     * QEMU's wording where QEMU has one.
     */
    void add(String driver, String id, JsonNode args) throws QmpServer.QmpException;

    /** Whether this family created the device with this id (and has not finished removing it). */
    boolean owns(String id);

    /**
     * Starts removing the device. The future completes when it is gone: at once for a device the
     * guest does not have to release, or when the guest ejects it (ACPI/PCIe/USB unplug). Only then
     * is {@code DEVICE_DELETED} sent, as in QEMU. A second {@code device_del} for a device still
     * being removed is not an error (QEMU repeats the unplug request).
     */
    CompletableFuture<Void> delete(String id) throws QmpServer.QmpException;

    /**
     * The device's own child devices, by name under its QOM path, that QEMU reports gone (a
     * DEVICE_DELETED with only a {@code path}) just before the device itself: {@code virtio-backend}
     * for a virtio PCI device; none by default.
     */
    default java.util.List<String> childrenDeleted() {
        return java.util.List.of();
    }
}
