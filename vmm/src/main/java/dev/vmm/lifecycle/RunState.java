package dev.vmm.lifecycle;

import dev.vmm.qapi.QapiNames;
import java.util.EnumSet;
import java.util.Set;

/**
 * QEMU's run states (QAPI {@code RunState}) that this VMM can be in, with the names
 * {@code query-status} reports. QEMU's other states (debug, finish-migrate, internal-error,
 * io-error, restore-vm, save-vm, watchdog, colo) have no counterpart here.
 */
public enum RunState {
    PRELAUNCH,
    INMIGRATE,
    POSTMIGRATE,
    PAUSED,
    RUNNING,
    SUSPENDED,
    SHUTDOWN,
    GUEST_PANICKED;

    /** The name in QMP ({@code query-status}'s {@code status}). */
    public String qapiName() { return QapiNames.of(this); }

    /**
     * The states this one may move to: QEMU's transition table restricted to the states above.
     * A state not listed is refused, as QEMU refuses it (there it is an abort; here an error).
     */
    public Set<RunState> successors() {
        return switch (this) {
            case PRELAUNCH -> EnumSet.of(INMIGRATE, RUNNING);
            case INMIGRATE -> EnumSet.of(PAUSED, RUNNING, SHUTDOWN, SUSPENDED, GUEST_PANICKED, PRELAUNCH, POSTMIGRATE);
            case POSTMIGRATE -> EnumSet.of(RUNNING, PRELAUNCH);
            case PAUSED -> EnumSet.of(RUNNING, POSTMIGRATE, PRELAUNCH);
            case RUNNING -> EnumSet.of(PAUSED, SHUTDOWN, SUSPENDED, GUEST_PANICKED);
            case SUSPENDED -> EnumSet.of(RUNNING, PRELAUNCH);
            case SHUTDOWN -> EnumSet.of(PAUSED, PRELAUNCH);
            case GUEST_PANICKED -> EnumSet.of(RUNNING, PRELAUNCH);
        };
    }

    /** Whether the guest must be reset before it can run again ({@code cont} is refused): QEMU's runstate_needs_reset. */
    public boolean needsReset() {
        return this == SHUTDOWN;
    }
}
