package dev.vmm.migration;

/** Throws if the migration must stop now (cancelled, or the destination gave up). */
@FunctionalInterface
interface AbortCheck {
    void check() throws MigrationException;
}
