package dev.vmm.it;

import org.opentest4j.TestAbortedException;

/**
 * A skip that no package, privilege or tool can cure: the kind of hypervisor cannot run the test
 * at all (on a PVM host guest user mode cannot make system calls, so a busybox init never runs).
 * Unlike an ordinary failed assumption it stays a skip under the strict switch
 * ({@link StrictSkips}, {@code VMM_IT_REQUIRE=all}), which exists to catch a missing package or
 * privilege on a host where the test could run.
 */
final class HostKindSkip extends TestAbortedException {
    /** How its reason starts in guest-tests-skipped.tsv; run-tests.sh does not fail the strict run for these lines. */
    static final String MARK = "host kind: ";

    HostKindSkip(String reason) {
        super("Assumption failed: " + MARK + reason);
    }

    /** Skips (even under the strict switch) unless {@code possible}. */
    static void unless(boolean possible, String reason) {
        if (!possible) throw new HostKindSkip(reason);
    }
}
