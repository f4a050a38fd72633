package dev.vmm.block.nbd;

/**
 * The errno values NBD carries on the wire (the spec's fixed subset, with Linux numbers) and their
 * names, so a server error reaches the user as "EIO" rather than a bare number.
 */
public final class NbdErrno {
    private NbdErrno() {}

    public static final int EPERM = 1, EIO = 5, ENOMEM = 12, EINVAL = 22, ENOSPC = 28, EOVERFLOW = 75,
            ENOTSUP = 95, ESHUTDOWN = 108;

    public static String name(int errno) {
        return switch (errno) {
            case EPERM -> "EPERM";
            case EIO -> "EIO";
            case ENOMEM -> "ENOMEM";
            case EINVAL -> "EINVAL";
            case ENOSPC -> "ENOSPC";
            case EOVERFLOW -> "EOVERFLOW";
            case ENOTSUP -> "ENOTSUP";
            case ESHUTDOWN -> "ESHUTDOWN";
            default -> "errno " + Integer.toUnsignedString(errno);
        };
    }

    public static String describe(int errno) {
        String text = switch (errno) {
            case EPERM -> "Operation not permitted";
            case EIO -> "Input/output error";
            case ENOMEM -> "Cannot allocate memory";
            case EINVAL -> "Invalid argument";
            case ENOSPC -> "No space left on device";
            case EOVERFLOW -> "Value too large for defined data type";
            case ENOTSUP -> "Operation not supported";
            case ESHUTDOWN -> "Cannot send after transport endpoint shutdown";
            default -> "unknown error";
        };
        return text + " (" + name(errno) + ")";
    }
}
