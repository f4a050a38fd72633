package dev.vmm.lifecycle;

import dev.vmm.qapi.QapiNames;
import dev.vmm.vcpu.VmExit;

/**
 * QEMU's {@code ShutdownCause} (the {@code reason} of SHUTDOWN and RESET events), the causes this
 * VMM can have. {@link #guest()} is the events' {@code guest} member: whether the guest caused it.
 */
public enum ShutdownCause {
    HOST_ERROR(false),
    HOST_QMP_QUIT(false),
    HOST_QMP_SYSTEM_RESET(false),
    HOST_SIGNAL(false),
    GUEST_SHUTDOWN(true),
    GUEST_RESET(true),
    GUEST_PANIC(true);

    private final boolean guest;

    ShutdownCause(boolean guest) {
        this.guest = guest;
    }

    /** The name in QMP (the events' {@code reason}). */
    public String qapiName() { return QapiNames.of(this); }

    public boolean guest() { return guest; }

    /**
     * Why a run ended, in QEMU's terms:
     * <ul>
     * <li>ACPI S5 power-off and the debug-exit port: guest-shutdown (QEMU's isa-debug-exit ends
     *     the process with no event at all; a guest-chosen exit is closest to a guest shutdown);
     * <li>a reset the guest asked for: guest-reset; one asked over QMP: host-qmp-system-reset;
     * <li>a triple fault or other guest failure: guest-reset (QEMU resets the machine on a triple
     *     fault, and without a reboot policy that ends the run as -no-reboot does);
     * <li>a pvpanic: guest-panic; quit over QMP: host-qmp-quit; a signal: host-signal;
     * <li>a failure of the VMM itself: host-error.
     * </ul>
     */
    public static ShutdownCause of(VmExit e) {
        return switch (e.kind()) {
            case GUEST_EXIT, POWER_OFF -> GUEST_SHUTDOWN;
            case RESET -> e.reason() != null && e.reason().contains("QMP") ? HOST_QMP_SYSTEM_RESET : GUEST_RESET;
            case GUEST_FAILURE -> GUEST_RESET;
            case GUEST_PANIC, GUEST_CRASHLOADED -> GUEST_PANIC;
            case VMM_ERROR -> HOST_ERROR;
            case STOPPED -> HOST_QMP_QUIT;
            case HOST_SIGNAL -> HOST_SIGNAL;
        };
    }
}
