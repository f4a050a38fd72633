package dev.vmm.machine;

import dev.vmm.boot.BootEntry;
import dev.vmm.devices.PendingDevice;
import dev.vmm.memory.GuestMemory;

import java.util.List;

/**
 * A machine checked and loaded as far as is possible without KVM: its RAM mapped with the kernel,
 * initrd and command line in place, and every device's host side open (images probed and locked,
 * taps up, sockets bound, the serial output file open). What the user gave is proven usable here, on any host; building it into a
 * KVM VM ({@link MachineBuilder#build(PreparedMachine)}) can then only fail for the host's reasons.
 *
 * @param entry    null when the machine's state comes from a snapshot or a migration, or boots firmware
 * @param firmware the checked BIOS image of a firmware boot, else null
 */
public record PreparedMachine(MachineConfig config, MachineRecipe recipe, GuestMemory memory, BootEntry entry,
                              ConsoleOutput console, List<PendingDevice> devices, dev.vmm.firmware.FirmwareImage firmware)
        implements AutoCloseable {
    /** Gives back what was opened, for a machine that will not be built. */
    @Override
    public void close() {
        for (PendingDevice d : devices) d.close();
        console.close();
        GuestRam.unmap(memory);
    }
}
