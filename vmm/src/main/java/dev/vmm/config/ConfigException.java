package dev.vmm.config;

/** A machine option that cannot be honoured as written: a one-line message for the user. */
public final class ConfigException extends IllegalArgumentException implements dev.vmm.error.UserFixable {
    public ConfigException(String message) {
        super(message);
    }
}
