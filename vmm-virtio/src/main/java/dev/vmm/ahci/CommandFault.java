package dev.vmm.ahci;

/**
 * A guest mistake found while fetching or running a command (command list or table outside RAM, a
 * bad FIS, a PRD outside RAM, too few PRD bytes...). Caught by the port, which answers the command
 * with an error task-file status; never leaves the device model.
 */
final class CommandFault extends RuntimeException {
    /** Whether the HBA could not even read the command (host bus fatal error, PxIS.HBFS). */
    final boolean hostBusFatal;

    CommandFault(String message, boolean hostBusFatal) {
        super(message, null, false, false);
        this.hostBusFatal = hostBusFatal;
    }

    CommandFault(String message) {
        this(message, false);
    }
}
