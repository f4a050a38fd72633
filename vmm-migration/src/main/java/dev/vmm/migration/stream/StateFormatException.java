package dev.vmm.migration.stream;

import java.io.IOException;

/** A state stream this VMM cannot use (corrupt, truncated, from an unknown or newer format). */
public final class StateFormatException extends IOException {
    public StateFormatException(String message) {
        super(message);
    }
}
