package dev.vmm.block.nbd;

import dev.vmm.block.BlockException;

/** The peer broke the NBD protocol (bad magic, impossible length, reply that matches no request...). */
public class NbdProtocolException extends BlockException {
    public NbdProtocolException(String message) { super(message); }
}
