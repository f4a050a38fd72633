package dev.vmm.cli;

/** A problem with what the user asked for (arguments, files): one line, exit status 2. */
public final class UsageException extends RuntimeException implements dev.vmm.error.UserFixable {
    public UsageException(String message) {
        super(message);
    }
}
