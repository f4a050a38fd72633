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
        /** Stopped from outside over the control socket (QMP quit). */
        STOPPED,
        /** Stopped by a signal (SIGTERM, SIGINT...). */
        HOST_SIGNAL,
        /** The guest reported a panic (pvpanic "panicked"). */
        GUEST_PANIC,
        /** The guest reported that a crash kernel is loaded (pvpanic "crash loaded"): it goes on running. */
        GUEST_CRASHLOADED
    }

    /** Status for VM failures, distinct from small guest-chosen codes and from usage errors (2). */
    public static final int FAILURE_STATUS = 125;

    public static VmExit guestExit(int code) {
        return new VmExit(Kind.GUEST_EXIT, code & 0xff, "guest requested exit with status " + (code & 0xff), null);
    }

    /**
     * A pvpanic report from {@code device} with event bits {@code events} (bit 0 panicked, bit 1
     * crash kernel loaded): a panic when bit 0 is set, else a crash-loaded notice.
     */
    public static VmExit pvpanic(String device, int events) {
        String what = device + " event 0x" + Integer.toHexString(events);
        if ((events & 1) != 0) return new VmExit(Kind.GUEST_PANIC, FAILURE_STATUS, "guest kernel panicked (" + what + ")", null);
        return new VmExit(Kind.GUEST_CRASHLOADED, 0, "guest crash kernel loaded (" + what + ")", null);
    }

    public static VmExit failure(String reason, String details) {
        return new VmExit(Kind.GUEST_FAILURE, FAILURE_STATUS, reason, details);
    }
}
