package dev.vmm.devices;

/**
 * What opening a device's host side may depend on.
 *
 * @param cpus          vCPUs of the machine (default queue counts)
 * @param deferDiskLocks an incoming-migration destination: disks are opened without their locks,
 *                      which the source hands over at the switch-over
 */
public record OpenContext(int cpus, boolean deferDiskLocks) {
}
