package dev.vmm.block.nbd;

import dev.vmm.block.BlockException;

/** A request the NBD server answered with an error; {@link #errno()} is the server's errno. */
public final class NbdErrorException extends BlockException {
    private final int errno;

    public NbdErrorException(String message, int errno) {
        super(message);
        this.errno = errno;
    }

    public int errno() { return errno; }
}
