package dev.vmm.vcpu;

/**
 * Why the machine stopped: what the VMM prints (one line, plus details for failures) and the
 * process exit status.
 */
public record VmExit(Kind kind, int status, String reason, String details) {
    public enum Kind {
        /** The guest wrote to the debug exit port. */
        GUEST_EXIT,
        /** Power-off (ACPI, PSCI-like system event). */
        POWER_OFF,
        /** A reset the guest asked for (i8042, 0xCF9, system event). */
        RESET,
        /** The guest ended in a way that is a failure: triple fault, emulation failure, bad entry state. */
        GUEST_FAILURE,
        /** The VMM itself failed. */
        VMM_ERROR,
        /** Stopped from outside (signal, control socket). */
        STOPPED
    }

    /** Status for VM failures, distinct from small guest-chosen codes and from usage errors (2). */
    public static final int FAILURE_STATUS = 125;

    public static VmExit guestExit(int code) {
        return new VmExit(Kind.GUEST_EXIT, code & 0xff, "guest requested exit with status " + (code & 0xff), null);
    }

    public static VmExit failure(String reason, String details) {
        return new VmExit(Kind.GUEST_FAILURE, FAILURE_STATUS, reason, details);
    }
}
