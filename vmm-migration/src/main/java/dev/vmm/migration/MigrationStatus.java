package dev.vmm.migration;

/** The {@code status} of {@code query-migrate}, with QEMU's names. */
public enum MigrationStatus {
    NONE("none"),
    SETUP("setup"),
    ACTIVE("active"),
    /** Stop-and-copy: vCPUs paused, last pages and device state being sent. */
    DEVICE("device"),
    COMPLETED("completed"),
    FAILED("failed"),
    CANCELLING("cancelling"),
    CANCELLED("cancelled");

    private final String qmpName;

    MigrationStatus(String qmpName) {
        this.qmpName = qmpName;
    }

    public String qmpName() { return qmpName; }

    /** Whether the migration is over (no thread works on it any more). */
    public boolean isFinal() { return this == COMPLETED || this == FAILED || this == CANCELLED || this == NONE; }

    @Override
    public String toString() { return qmpName; }
}
