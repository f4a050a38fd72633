package dev.vmm.devices;

import dev.vmm.memory.GuestMemory;
import dev.vmm.vcpu.VmExit;
import dev.vmm.virtio.io.IoThread;

import java.io.OutputStream;
import java.util.List;
import java.util.function.Consumer;

/**
 * What attaching a device may use: where PCI functions go, how virtio devices reach KVM, where the
 * device is registered, the I/O threads that serve queues, and how a device ends the run.
 *
 * @param console the serial console's output (virtio-console port 0 shares it)
 * @param exits   ends the machine's run (pvpanic, reset): the machine's exit, not the machine itself
 */
public record AttachContext(PciPlacement pci, VirtioAttach virtio, DeviceRegistry registry, GuestMemory memory,
                            List<IoThread> ioThreads, int cpus, OutputStream console, Consumer<VmExit> exits) {
}
