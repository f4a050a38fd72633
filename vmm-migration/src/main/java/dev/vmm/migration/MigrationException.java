package dev.vmm.migration;

import java.io.IOException;

/** A migration that failed: peer gone, corrupt stream, refused state, or cancelled. */
public class MigrationException extends IOException {
    public MigrationException(String message) {
        super(message);
    }

    public MigrationException(String message, Throwable cause) {
        super(message, cause);
    }
}
