package dev.vmm.it;

import org.junit.jupiter.api.Test;
import org.opentest4j.TestAbortedException;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The shared preconditions' skip reasons, which the skip summary and run-tests.sh's closing line
 * depend on (a KVM skip is counted by the "/dev/kvm" in its reason): exact on a host without a
 * usable /dev/kvm, no skip at all on one with it. No guest runs.
 */
class GuestNeedsTest {
    @Test
    void aKvmSkipSaysSoInTheWordsRunTestsCounts() {
        if (Vmm.kvmUsable()) {
            assertThatCode(GuestNeeds::kvm).doesNotThrowAnyException();
            assertThatCode(() -> GuestNeeds.kvm("why")).doesNotThrowAnyException();
        } else {
            assertThatThrownBy(GuestNeeds::kvm).isInstanceOf(TestAbortedException.class)
                    .hasMessage("Assumption failed: /dev/kvm is not usable on this host");
            assertThatThrownBy(() -> GuestNeeds.kvm("the comparison needs both VMMs on KVM")).isInstanceOf(TestAbortedException.class)
                    .hasMessage("Assumption failed: /dev/kvm is not usable on this host: the comparison needs both VMMs on KVM");
            assertThatThrownBy(GuestNeeds::kvmAndGuestKit).hasMessageContaining("/dev/kvm");
        }
        assertThat(GuestNeeds.NO_KVM).contains("/dev/kvm"); // what run-tests.sh greps for
    }

    @Test
    void qemuIsFoundWhereItIsInstalled() {
        if (Qemu.find().isPresent()) {
            assertThatCode(GuestNeeds::qemu).doesNotThrowAnyException();
        } else {
            assertThatThrownBy(GuestNeeds::qemu).isInstanceOf(TestAbortedException.class)
                    .hasMessage("Assumption failed: qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");
        }
    }

    @Test
    void aPvmHostSkipIsAHostKindSkip() {
        if (SmokeKernel.hostNeedsPvmWorkarounds()) {
            assertThatThrownBy(() -> GuestNeeds.notOnPvmHost("why")).isInstanceOf(HostKindSkip.class)
                    .hasMessage("Assumption failed: " + HostKindSkip.MARK + "why");
        } else {
            assertThatCode(() -> GuestNeeds.notOnPvmHost("why")).doesNotThrowAnyException();
        }
    }
}
