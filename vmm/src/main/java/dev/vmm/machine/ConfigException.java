package dev.vmm.machine;

/** A machine option that cannot be honoured as written: a one-line message for the user. */
public final class ConfigException extends IllegalArgumentException {
    public ConfigException(String message) {
        super(message);
    }
}
