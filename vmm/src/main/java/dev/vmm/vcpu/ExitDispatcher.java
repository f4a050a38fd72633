package dev.vmm.vcpu;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.ffm.kvm.KvmRun;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static dev.vmm.ffm.kvm.KvmIoctls.KVM_EXIT_IO_OUT;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

/**
 * The hot part of a vCPU's exit path: a PIO or MMIO exit read from {@code kvm_run} and dispatched to
 * the device on the port or MMIO bus, the answer of a read written back for KVM to complete the
 * guest's instruction. No locks, no allocation. Apart from {@link Vcpu} so that it runs without
 * KVM too: over a {@link KvmRun#over replayed} exit in the JMH benchmark, the unit tests and the
 * AOT cache's training run (which records its profile, so a guest's first exits run compiled code).
 */
public record ExitDispatcher(KvmRun kvmRun, Bus portBus, Bus mmioBus) {
    // Layouts as constants: withOrder() in the access would make a new layout (and look up its
    // VarHandle) on every exit.
    private static final ValueLayout.OfShort U16 = JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** KVM_EXIT_IO: {@code count} accesses of {@code size} bytes (string I/O repeats the port). */
    public void io() {
        int port = kvmRun.ioPort();
        int size = kvmRun.ioSize();
        MemorySegment data = kvmRun.ioData();
        int count = kvmRun.ioCount();
        if (kvmRun.ioDirection() == KVM_EXIT_IO_OUT) {
            for (int i = 0; i < count; i++) portBus.write(port, size, load(data, (long) i * size, size));
        } else {
            for (int i = 0; i < count; i++) store(data, (long) i * size, size, portBus.read(port, size));
        }
    }

    /** KVM_EXIT_MMIO: one access of 1 to 8 bytes; another length is ignored (KVM never sends one). */
    public void mmio() {
        long addr = kvmRun.mmioPhysAddr();
        int len = kvmRun.mmioLen();
        if (len <= 0 || len > 8) return;
        MemorySegment data = kvmRun.mmioData();
        if (kvmRun.mmioIsWrite()) {
            mmioBus.write(addr, len, load(data, 0, len));
        } else {
            store(data, 0, len, mmioBus.read(addr, len));
        }
    }

    static long load(MemorySegment s, long off, int size) {
        return switch (size) {
            case 1 -> s.get(JAVA_BYTE, off) & 0xffL;
            case 2 -> s.get(U16, off) & 0xffffL;
            case 4 -> s.get(U32, off) & 0xffffffffL;
            case 8 -> s.get(U64, off);
            default -> {
                long v = 0;
                for (int i = size - 1; i >= 0; i--) v = (v << 8) | (s.get(JAVA_BYTE, off + i) & 0xff);
                yield v;
            }
        };
    }

    static void store(MemorySegment s, long off, int size, long v) {
        switch (size) {
            case 1 -> s.set(JAVA_BYTE, off, (byte) v);
            case 2 -> s.set(U16, off, (short) v);
            case 4 -> s.set(U32, off, (int) v);
            case 8 -> s.set(U64, off, v);
            default -> {
                for (int i = 0; i < size; i++) s.set(JAVA_BYTE, off + i, (byte) (v >>> (8 * i)));
            }
        }
    }
}
