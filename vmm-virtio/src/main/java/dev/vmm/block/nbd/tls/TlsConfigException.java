package dev.vmm.block.nbd.tls;

import dev.vmm.block.BlockException;

/** A credentials directory or file that cannot be used; the message is one line naming the file. */
public final class TlsConfigException extends BlockException {
    public TlsConfigException(String message) { super(message); }
}
