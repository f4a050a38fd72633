package dev.vmm.ahci;

/**
 * What a drive answers to one command: the ending task-file registers the HBA reports in PxTFD and
 * the FIS it posts, how many bytes moved through the PRDs (PRDBC), and the protocol (which decides
 * the FIS: PIO Setup for PIO data-in, D2H Register otherwise).
 */
record AtaResult(int status, int error, long transferred, Protocol protocol, long lba, int count) {
    enum Protocol { NON_DATA, PIO_IN, PIO_OUT, DMA }

    // ATA status bits.
    static final int BSY = 0x80;
    static final int DRDY = 0x40;
    static final int DF = 0x20;
    static final int DSC = 0x10;
    static final int DRQ = 0x08;
    static final int ERR = 0x01;
    // ATA error bits.
    static final int ABRT = 0x04;
    static final int IDNF = 0x10;
    static final int UNC = 0x40;

    static final int STATUS_OK = DRDY | DSC;

    static AtaResult ok(long transferred, Protocol p) {
        return new AtaResult(STATUS_OK, 0, transferred, p, 0, 0);
    }

    /** Error status as QEMU 7.2 reports it: DRDY | ERR (41h), the error register as given. */
    static final int STATUS_ERROR = DRDY | ERR;

    static AtaResult error(int error) {
        return new AtaResult(STATUS_ERROR, error, 0, Protocol.NON_DATA, 0, 0);
    }

    static AtaResult abort() {
        return error(ABRT);
    }

    boolean failed() {
        return (status & ERR) != 0;
    }
}
