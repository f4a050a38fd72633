package dev.vmm.timer;

import dev.vmm.ffm.kvm.KvmLayouts;
import dev.vmm.ffm.kvm.VmFd;

/**
 * The in-kernel PIT's HPET legacy flag: while the guest has the HPET's legacy replacement on
 * (LEG_RT_CNF), the HPET's timer 0 is IRQ 0 and the PIT must stop driving it, as on real hardware
 * (otherwise the guest gets both timers' interrupts on one line). KVM has a flag for exactly that
 * in {@code kvm_pit_state2.flags} (KVM_PIT_FLAGS_HPET_LEGACY): channel 0 then does not run.
 */
public final class PitLegacy {
    public static final int KVM_PIT_FLAGS_HPET_LEGACY = 1;
    static final int FLAGS_OFFSET = (int) KvmLayouts.offset(KvmLayouts.KVM_PIT_STATE2, "flags");

    private PitLegacy() {}

    /** {@code state} (a kvm_pit_state2) with the HPET legacy flag set to {@code on}; the rest unchanged. */
    public static byte[] withFlag(byte[] state, boolean on) {
        byte[] out = state.clone();
        int flags = (out[FLAGS_OFFSET] & 0xff) | (out[FLAGS_OFFSET + 1] & 0xff) << 8 | (out[FLAGS_OFFSET + 2] & 0xff) << 16
                | (out[FLAGS_OFFSET + 3] & 0xff) << 24;
        flags = on ? flags | KVM_PIT_FLAGS_HPET_LEGACY : flags & ~KVM_PIT_FLAGS_HPET_LEGACY;
        for (int i = 0; i < 4; i++) out[FLAGS_OFFSET + i] = (byte) (flags >>> (8 * i));
        return out;
    }

    /** Tells KVM's PIT (KVM_GET_PIT2 / KVM_SET_PIT2); KVM only, on the vCPU thread that wrote the HPET's config. */
    public static void set(VmFd vm, boolean on) {
        vm.setPit2(withFlag(vm.getPit2(), on));
    }
}
