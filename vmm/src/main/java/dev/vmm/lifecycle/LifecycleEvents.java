package dev.vmm.lifecycle;

import dev.vmm.qapi.QapiNames;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The {@code data} of QEMU's life-cycle events, as maps the QMP server turns into JSON
 * (QAPI: run-state.json). Names and members as in QEMU 7.2.
 */
public final class LifecycleEvents {
    public static final String SHUTDOWN = "SHUTDOWN", RESET = "RESET", POWERDOWN = "POWERDOWN", STOP = "STOP",
            RESUME = "RESUME", GUEST_PANICKED = "GUEST_PANICKED", GUEST_CRASHLOADED = "GUEST_CRASHLOADED";

    /** QAPI {@code GuestPanicAction}: what the VMM does about a panic. */
    public enum PanicAction {
        PAUSE, POWEROFF, RUN;

        public String qapiName() { return QapiNames.of(this); }
    }

    private LifecycleEvents() {}

    /** SHUTDOWN: {@code {"guest": bool, "reason": ShutdownCause}}. */
    public static Map<String, Object> shutdown(ShutdownCause cause) {
        return guestAndReason(cause);
    }

    /** RESET: {@code {"guest": bool, "reason": ShutdownCause}}. */
    public static Map<String, Object> reset(ShutdownCause cause) {
        return guestAndReason(cause);
    }

    /** POWERDOWN, STOP, RESUME: no members. */
    public static Map<String, Object> empty() {
        return Map.of();
    }

    /**
     * GUEST_PANICKED and GUEST_CRASHLOADED: {@code {"action": GuestPanicAction}}. QEMU adds an
     * {@code info} member only for Hyper-V and s390 crash information, never for pvpanic, so there
     * is none here either; the pvpanic event bits are on the VMM's exit line instead.
     */
    public static Map<String, Object> guestPanicked(PanicAction action) {
        return Map.of("action", action.qapiName());
    }

    private static Map<String, Object> guestAndReason(ShutdownCause cause) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("guest", cause.guest());
        m.put("reason", cause.qapiName());
        return m;
    }
}
