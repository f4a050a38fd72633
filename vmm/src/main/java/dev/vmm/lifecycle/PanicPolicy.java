package dev.vmm.lifecycle;

import java.nio.file.Path;

/**
 * {@code --on-panic exit|pause|dump=PATH}: what a guest panic (pvpanic) does. {@code exit} ends the
 * run with status 125 (the default); {@code pause} keeps the guest, paused in state guest-panicked,
 * for inspection over QMP; {@code dump} writes an ELF core to PATH and then exits as {@code exit}.
 */
public record PanicPolicy(Kind kind, Path dumpPath) {
    public enum Kind { EXIT, PAUSE, DUMP }

    public static final PanicPolicy EXIT = new PanicPolicy(Kind.EXIT, null);

    public PanicPolicy {
        if ((kind == Kind.DUMP) != (dumpPath != null)) throw new IllegalArgumentException("dump takes a path, and only dump");
    }

    /** Parses the option's value; a bad value is an {@link IllegalArgumentException} with a one-line message. */
    public static PanicPolicy parse(String s) {
        if (s == null) throw new IllegalArgumentException("--on-panic takes exit, pause or dump=PATH");
        return switch (s) {
            case "exit" -> EXIT;
            case "pause" -> new PanicPolicy(Kind.PAUSE, null);
            default -> {
                if (s.startsWith("dump=") && s.length() > 5) yield new PanicPolicy(Kind.DUMP, Path.of(s.substring(5)));
                throw new IllegalArgumentException("--on-panic takes exit, pause or dump=PATH, not '" + s + "'");
            }
        };
    }

    /** The GUEST_PANICKED event's action for this policy. */
    public LifecycleEvents.PanicAction action() {
        return kind == Kind.PAUSE ? LifecycleEvents.PanicAction.PAUSE : LifecycleEvents.PanicAction.POWEROFF;
    }
}
