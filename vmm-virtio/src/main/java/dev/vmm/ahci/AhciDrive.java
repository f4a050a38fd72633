package dev.vmm.ahci;

/**
 * A device on an AHCI port: an ATA disk ({@link AtaDisk}) or an ATAPI CD-ROM ({@link AtapiCdrom}).
 * {@link #execute} runs on the port's I/O job, never on a vCPU thread, and may block on the disk.
 */
public sealed interface AhciDrive permits AtaDisk, AtapiCdrom {
    /** PxSIG after a reset: count | LBA low << 8 | LBA mid << 16 | LBA high << 24 of the reset D2H FIS. */
    int signature();

    /** The status register the device reports after a reset. */
    int resetStatus();

    /**
     * Runs one non-queued or queued command with its data buffer. Guest mistakes in the data
     * layout (more bytes needed than the PRDs give) throw {@link CommandFault}; everything else is
     * answered with an {@link AtaResult}. Never throws anything else.
     */
    AtaResult execute(AtaCommand command, Prdt data);

    /** A short description for logs and QMP ("disk", "cdrom"). */
    String kind();
}
