package dev.vmm.it;

import org.opentest4j.TestAbortedException;

import java.util.Locale;

/**
 * The strict switch for guest tests: {@code VMM_IT_REQUIRE=all} (run-tests.sh sets it on a host
 * with a usable /dev/kvm) turns every skipped test — an assumption that failed because a package,
 * a privilege or a tool is missing — into a failure that names the test and the reason. A
 * {@link HostKindSkip} (the hypervisor kind cannot run the test at all) stays a skip. Unset or
 * {@code none}: a skip stays a skip (a developer's machine without KVM). Any other value is a
 * mistake in the CI setup and fails loudly rather than silently meaning "lenient".
 */
final class StrictSkips {
    static final String VARIABLE = "VMM_IT_REQUIRE";

    private StrictSkips() { }

    /** Whether the switch is on, from the variable's value ({@code null} when unset). */
    static boolean strict(String value) {
        if (value == null || value.isBlank()) return false;
        return switch (value.strip().toLowerCase(Locale.ROOT)) {
            case "all" -> true;
            case "none" -> false;
            default -> throw new IllegalArgumentException(VARIABLE + "=" + value + ": expected 'all' (a skipped guest test fails)"
                    + " or 'none' / unset (skips stay skips)");
        };
    }

    /** The switch as this JVM's environment sets it. */
    static boolean strict() {
        return strict(System.getenv(VARIABLE));
    }

    /**
     * What a test (or lifecycle method) that threw {@code t} should throw under the switch:
     * a skip becomes an AssertionError carrying the skip's reason (and the original as its
     * cause); anything else is returned unchanged.
     */
    static Throwable underSwitch(boolean strict, String where, Throwable t) {
        if (!strict || !(t instanceof TestAbortedException) || t instanceof HostKindSkip) return t;
        String reason = t.getMessage() == null ? "" : t.getMessage().replaceFirst("^Assumption failed: ", "");
        return new AssertionError(where + " was skipped (" + reason + "), but " + VARIABLE
                + "=all: on this host every guest test must run", t);
    }
}
