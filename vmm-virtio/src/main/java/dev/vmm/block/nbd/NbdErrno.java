package dev.vmm.block.nbd;

/**
 * The errno values NBD carries on the wire (the spec's fixed subset, with Linux numbers) and their
 * names, so a server error reaches the user as "EIO" rather than a bare number.
 */
public final class NbdErrno {
    private NbdErrno() {}

    public static final int EPERM = 1, EIO = 5, ENOMEM = 12, EINVAL = 22, ENOSPC = 28, EOVERFLOW = 75,
            ENOTSUP = 95, ESHUTDOWN = 108;

    /** One row per wire value: its name is the constant's, its text strerror's (glibc's wording). */
    private enum Known {
        EPERM(NbdErrno.EPERM, "Operation not permitted"),
        EIO(NbdErrno.EIO, "Input/output error"),
        ENOMEM(NbdErrno.ENOMEM, "Cannot allocate memory"),
        EINVAL(NbdErrno.EINVAL, "Invalid argument"),
        ENOSPC(NbdErrno.ENOSPC, "No space left on device"),
        EOVERFLOW(NbdErrno.EOVERFLOW, "Value too large for defined data type"),
        ENOTSUP(NbdErrno.ENOTSUP, "Operation not supported"),
        ESHUTDOWN(NbdErrno.ESHUTDOWN, "Cannot send after transport endpoint shutdown");

        private final int value;
        private final String text;

        Known(int value, String text) {
            this.value = value;
            this.text = text;
        }

        /** The row of {@code errno}, or null for a value outside the spec's subset. */
        static Known of(int errno) {
            for (Known k : values()) {
                if (k.value == errno) return k;
            }
            return null;
        }
    }

    public static String name(int errno) {
        Known k = Known.of(errno);
        return k != null ? k.name() : "errno " + Integer.toUnsignedString(errno);
    }

    public static String describe(int errno) {
        Known k = Known.of(errno);
        return (k != null ? k.text : "unknown error") + " (" + name(errno) + ")";
    }
}
