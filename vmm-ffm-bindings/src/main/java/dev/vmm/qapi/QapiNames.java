package dev.vmm.qapi;

import java.util.Locale;

/**
 * The QMP name of a QAPI enum value. QEMU's QAPI generator turns a value such as
 * {@code guest-panicked} into the C constant {@code RUN_STATE_GUEST_PANICKED}: upper case, '-' as
 * '_'. The Java enums that mirror QAPI enums ({@code RunState}, {@code ShutdownCause},
 * {@code MigrationStatus}) name their constants the same way, so the QMP name is the constant's
 * name turned back, and is written nowhere twice.
 */
public final class QapiNames {
    private QapiNames() {}

    /** {@code GUEST_PANICKED} → {@code "guest-panicked"}. */
    public static String of(Enum<?> value) {
        return value.name().toLowerCase(Locale.ROOT).replace('_', '-');
    }
}
