package dev.vmm.error;

/**
 * Marks an exception whose message tells the user what to change: a file that is missing, locked,
 * corrupt or of the wrong kind, an option that cannot be honoured, a tap or bridge that does not
 * exist. The {@code vmm} binary prints such an error as one line and exits with status 2; anything
 * else that escapes is a host problem (status 1) or a bug (internal error with a stack trace).
 *
 * <p>It lives in the lowest module so that every layer (block images, taps, boot, CLI) can mark its
 * own exceptions without the CLI having to know each of them.
 */
public interface UserFixable {
}
