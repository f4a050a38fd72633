package dev.vmm.migration;

import dev.vmm.qapi.QapiNames;

/** The {@code status} of {@code query-migrate}; the QMP names follow from the constants ({@link QapiNames}). */
public enum MigrationStatus {
    NONE,
    SETUP,
    ACTIVE,
    /** Stop-and-copy: vCPUs paused, last pages and device state being sent. */
    DEVICE,
    COMPLETED,
    FAILED,
    CANCELLING,
    CANCELLED;

    public String qmpName() { return QapiNames.of(this); }

    /** Whether the migration is over (no thread works on it any more). */
    public boolean isFinal() { return this == COMPLETED || this == FAILED || this == CANCELLED || this == NONE; }

    @Override
    public String toString() { return qmpName(); }
}
