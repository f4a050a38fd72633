package dev.vmm.it;

import java.util.Optional;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The preconditions guest tests share, each a JUnit assumption with one fixed reason: the reason
 * is what the skip summary ({@code target/guest-tests-skipped.tsv}, {@link GuestTestSummary})
 * records and run-tests.sh counts ({@code /dev/kvm} in it: "skipped (no usable /dev/kvm)"), and
 * what the strict switch ({@link StrictSkips}, {@code VMM_IT_REQUIRE=all}) turns into a failure.
 * Call them from {@code @BeforeAll} (a whole class) or from a test (that test only).
 */
final class GuestNeeds {
    /** The reason of every test that needs KVM; run-tests.sh counts the lines that name /dev/kvm. */
    static final String NO_KVM = "/dev/kvm is not usable on this host";

    private GuestNeeds() { }

    /** A usable /dev/kvm. */
    static void kvm() {
        assumeTrue(Vmm.kvmUsable(), NO_KVM);
    }

    /** A usable /dev/kvm; {@code why} says what for, after the usual reason. */
    static void kvm(String why) {
        assumeTrue(Vmm.kvmUsable(), NO_KVM + ": " + why);
    }

    /** The guest kit built (its compiler and tools present); the kit. */
    static GuestKit guestKit() {
        Optional<String> why = GuestKit.unavailableReason();
        assumeTrue(why.isEmpty(), () -> why.orElse(""));
        return GuestKit.get();
    }

    /** A usable /dev/kvm, then the guest kit: what a guest-kit guest under vmm needs. */
    static GuestKit kvmAndGuestKit() {
        kvm();
        return guestKit();
    }

    /** QEMU's system emulator, the oracle of the *QemuTest classes. */
    static void qemu() {
        assumeTrue(Qemu.find().isPresent(), Qemu.BINARY + " is not installed (apt-get install qemu-system-x86)");
    }

    /**
     * Not a PVM host (/sys/module/kvm_pvm), where guest user mode cannot make system calls: a
     * {@link HostKindSkip}, which stays a skip under the strict switch; {@code reason} says what
     * cannot run.
     */
    static void notOnPvmHost(String reason) {
        HostKindSkip.unless(!SmokeKernel.hostNeedsPvmWorkarounds(), reason);
    }

    /** A network namespace of our own (root, iproute2, /dev/net/tun). */
    static void netNamespace() {
        assumeTrue(NetNamespace.usable(), "needs root, iproute2 and /dev/net/tun for a network namespace");
    }
}
