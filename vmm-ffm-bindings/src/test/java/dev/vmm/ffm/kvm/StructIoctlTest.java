package dev.vmm.ffm.kvm;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@link StructIoctl#fill}: each value lands at the offset the (header-checked) layout gives its
 * member, with the member's width, and nothing else is written.
 */
class StructIoctlTest {
    @Test
    void mixedWidthMembersLandAtTheirOffsets() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(KvmLayouts.KVM_IOEVENTFD);
            StructIoctl.fill(s, KvmLayouts.KVM_IOEVENTFD, 0x1122_3344_5566_7788L, 0xFEB0_0000L, 2, 37, 0x5);
            var l = KvmLayouts.KVM_IOEVENTFD;
            assertThat(s.get(JAVA_LONG, KvmLayouts.offset(l, "datamatch"))).isEqualTo(0x1122_3344_5566_7788L);
            assertThat(s.get(JAVA_LONG, KvmLayouts.offset(l, "addr"))).isEqualTo(0xFEB0_0000L);
            assertThat(s.get(JAVA_INT, KvmLayouts.offset(l, "len"))).isEqualTo(2);
            assertThat(s.get(JAVA_INT, KvmLayouts.offset(l, "fd"))).isEqualTo(37);
            assertThat(s.get(JAVA_INT, KvmLayouts.offset(l, "flags"))).isEqualTo(5);
            long pad = KvmLayouts.offset(l, "pad");
            assertThat(s.asSlice(pad).toArray(JAVA_INT)).containsOnly(0);
        }
    }

    @Test
    void thirtyTwoBitMembersTakeTheLowBitsOnly() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(KvmLayouts.KVM_MSI);
            long address = 0x0000_0001_FEE0_1000L;
            StructIoctl.fill(s, KvmLayouts.KVM_MSI, address & 0xFFFF_FFFFL, address >>> 32, 0x4041);
            assertThat(s.get(JAVA_INT, KvmLayouts.offset(KvmLayouts.KVM_MSI, "address_lo"))).isEqualTo(0xFEE0_1000);
            assertThat(s.get(JAVA_INT, KvmLayouts.offset(KvmLayouts.KVM_MSI, "address_hi"))).isEqualTo(1);
            assertThat(s.get(JAVA_INT, KvmLayouts.offset(KvmLayouts.KVM_MSI, "data"))).isEqualTo(0x4041);
            assertThat(s.get(JAVA_INT, KvmLayouts.offset(KvmLayouts.KVM_MSI, "flags"))).isZero();
        }
    }

    @Test
    void unionsAreWrittenThroughTheirFirstMemberAndPointersWhole() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment level = a.allocate(KvmLayouts.KVM_IRQ_LEVEL);
            StructIoctl.fill(level, KvmLayouts.KVM_IRQ_LEVEL, 9, 1);
            assertThat(level.get(JAVA_INT, KvmLayouts.offset(KvmLayouts.KVM_IRQ_LEVEL, "$u", "irq"))).isEqualTo(9);
            assertThat(level.get(JAVA_INT, KvmLayouts.offset(KvmLayouts.KVM_IRQ_LEVEL, "level"))).isEqualTo(1);

            MemorySegment log = a.allocate(KvmLayouts.KVM_DIRTY_LOG);
            StructIoctl.fill(log, KvmLayouts.KVM_DIRTY_LOG, 3, 0, 0x7f00_1234_5000L);
            assertThat(log.get(JAVA_INT, KvmLayouts.offset(KvmLayouts.KVM_DIRTY_LOG, "slot"))).isEqualTo(3);
            assertThat(log.get(JAVA_LONG, KvmLayouts.offset(KvmLayouts.KVM_DIRTY_LOG, "$u", "dirty_bitmap")))
                    .isEqualTo(0x7f00_1234_5000L);
        }
    }

    @Test
    void refusesMoreValuesThanMembersAndNonScalarMembers() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(KvmLayouts.KVM_MP_STATE);
            assertThatThrownBy(() -> StructIoctl.fill(s, KvmLayouts.KVM_MP_STATE, 1, 2))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("2 values for 1 members");
            MemorySegment pit = a.allocate(KvmLayouts.KVM_PIT_CONFIG);
            assertThatThrownBy(() -> StructIoctl.fill(pit, KvmLayouts.KVM_PIT_CONFIG, 1, 2))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not a scalar");
        }
    }
}
