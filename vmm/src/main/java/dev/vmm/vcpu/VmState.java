package dev.vmm.vcpu;

import dev.vmm.ffm.kvm.KvmIoctls;
import dev.vmm.ffm.kvm.VmFd;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;

/** The in-kernel devices' state: both PICs, the IOAPIC, the PIT and kvmclock. */
public record VmState(byte[] picMaster, byte[] picSlave, byte[] ioapic, byte[] pit, byte[] clock) {
    public static final int VERSION = 1;

    public static VmState capture(VmFd vm) {
        return new VmState(vm.getIrqchip(KvmIoctls.KVM_IRQCHIP_PIC_MASTER), vm.getIrqchip(KvmIoctls.KVM_IRQCHIP_PIC_SLAVE),
                vm.getIrqchip(KvmIoctls.KVM_IRQCHIP_IOAPIC), vm.getPit2(), vm.getClock());
    }

    public void restore(VmFd vm) {
        vm.setIrqchip(picMaster);
        vm.setIrqchip(picSlave);
        vm.setIrqchip(ioapic);
        vm.setPit2(pit);
        // Only the clock value is restored: KVM_SET_CLOCK refuses flags it did not hand out.
        byte[] c = clock.clone();
        java.nio.ByteBuffer.wrap(c).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(8, 0);
        vm.setClock(c);
    }

    public void write(DataOutputStream out) throws IOException {
        for (byte[] b : new byte[][] {picMaster, picSlave, ioapic, pit, clock}) {
            out.writeInt(b.length);
            out.write(b);
        }
    }

    public static VmState read(DataInputStream in) throws IOException {
        byte[][] b = new byte[5][];
        for (int i = 0; i < 5; i++) b[i] = VcpuState.blob(in, 64 * 1024);
        return new VmState(b[0], b[1], b[2], b[3], b[4]);
    }
}
