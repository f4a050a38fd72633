package dev.vmm.ffm.kvm;

import dev.vmm.ffm.CProbe;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Every KVM struct size, member offset/size, ioctl number and constant against {@code <linux/kvm.h>}. */
class KvmHeaderProbeTest {
    @BeforeAll
    static void needsGcc() {
        assumeTrue(CProbe.gccAvailable(), "gcc is needed to compile the header probe");
    }

    @Test
    void layoutsAndConstantsMatchTheHeaders() throws Exception {
        CProbe probe = new CProbe("linux/kvm.h");
        KvmLayouts.all().values().forEach(probe::struct);
        KvmIoctls.all().forEach(probe::constant);
        Map<String, Long> c = probe.run();
        assertThat(c).hasSameSizeAs(probe.expected());
        assertThat(probe.expected()).containsExactlyInAnyOrderEntriesOf(c);
    }

    @Test
    void probeCatchesAWrongOffset() throws Exception {
        // The probe itself must be able to fail: a layout with a member in the wrong place.
        var wrong = java.lang.foreign.MemoryLayout.structLayout(
                java.lang.foreign.ValueLayout.JAVA_LONG.withName("rbx"),
                java.lang.foreign.ValueLayout.JAVA_LONG.withName("rax")).withName("kvm_regs");
        CProbe probe = new CProbe("linux/kvm.h").struct(wrong);
        Map<String, Long> c = probe.run();
        assertThat(c.get("struct kvm_regs.rax offset")).isEqualTo(0L);
        assertThat(probe.expected().get("struct kvm_regs.rax offset")).isEqualTo(8L);
    }
}
