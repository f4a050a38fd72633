package dev.vmm.block;

/** A failed block request or image operation; its message is one line meant for the user. */
public class BlockException extends RuntimeException implements dev.vmm.error.UserFixable {
    public BlockException(String message) { super(message); }

    public BlockException(String message, Throwable cause) { super(message, cause); }
}
