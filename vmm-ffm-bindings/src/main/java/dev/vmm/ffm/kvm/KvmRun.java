package dev.vmm.ffm.kvm;

import java.lang.foreign.MemorySegment;

import static dev.vmm.ffm.kvm.KvmLayouts.KVM_RUN;
import static dev.vmm.ffm.kvm.KvmLayouts.offset;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * The vCPU's shared {@code struct kvm_run} page: typed accessors for the fields the exit loop
 * reads and writes. All offsets come from {@link KvmLayouts#KVM_RUN}.
 */
public final class KvmRun {
    private static final long IMMEDIATE_EXIT = offset(KVM_RUN, "immediate_exit");
    private static final long REQUEST_INTERRUPT_WINDOW = offset(KVM_RUN, "request_interrupt_window");
    private static final long EXIT_REASON = offset(KVM_RUN, "exit_reason");
    private static final long IF_FLAG = offset(KVM_RUN, "if_flag");
    private static final long READY_FOR_INJECTION = offset(KVM_RUN, "ready_for_interrupt_injection");
    private static final long HW_EXIT_REASON = offset(KVM_RUN, "$exit", "hw", "hardware_exit_reason");
    private static final long FAIL_ENTRY_REASON = offset(KVM_RUN, "$exit", "fail_entry", "hardware_entry_failure_reason");
    private static final long IO_DIRECTION = offset(KVM_RUN, "$exit", "io", "direction");
    private static final long IO_SIZE = offset(KVM_RUN, "$exit", "io", "size");
    private static final long IO_PORT = offset(KVM_RUN, "$exit", "io", "port");
    private static final long IO_COUNT = offset(KVM_RUN, "$exit", "io", "count");
    private static final long IO_DATA_OFFSET = offset(KVM_RUN, "$exit", "io", "data_offset");
    private static final long MMIO_PHYS_ADDR = offset(KVM_RUN, "$exit", "mmio", "phys_addr");
    private static final long MMIO_DATA = offset(KVM_RUN, "$exit", "mmio", "data");
    private static final long MMIO_LEN = offset(KVM_RUN, "$exit", "mmio", "len");
    private static final long MMIO_IS_WRITE = offset(KVM_RUN, "$exit", "mmio", "is_write");
    private static final long INTERNAL_SUBERROR = offset(KVM_RUN, "$exit", "internal", "suberror");
    private static final long INTERNAL_NDATA = offset(KVM_RUN, "$exit", "internal", "ndata");
    private static final long INTERNAL_DATA = offset(KVM_RUN, "$exit", "internal", "data");
    private static final long SYSTEM_EVENT_TYPE = offset(KVM_RUN, "$exit", "system_event", "type");
    private static final long EX_EXCEPTION = offset(KVM_RUN, "$exit", "ex", "exception");
    private static final long EX_ERROR_CODE = offset(KVM_RUN, "$exit", "ex", "error_code");

    private final MemorySegment run;

    KvmRun(MemorySegment run) {
        this.run = run;
    }

    /**
     * A {@code kvm_run} layout over any segment (at least {@link #size()} bytes): for replaying
     * exits without KVM — in benchmarks, tests and the AOT training run — with
     * {@link #recordIoExit} and {@link #recordMmioExit}.
     */
    public static KvmRun over(MemorySegment segment) {
        if (segment.byteSize() < size()) throw new IllegalArgumentException("kvm_run needs " + size() + " bytes");
        return new KvmRun(segment);
    }

    /** The structure's size up to the end of the exit union (the data area of PIO exits follows it). */
    public static long size() { return KVM_RUN.byteSize(); }

    /**
     * Writes a KVM_EXIT_IO record as KVM would: direction, size, port, count, and the data area
     * placed after the structure. Returns the data area (out: fill it; in: the VMM fills it).
     */
    public MemorySegment recordIoExit(int direction, int size, int port, int count) {
        long dataOffset = (size() + 7) & ~7L;
        if (dataOffset + (long) size * count > run.byteSize()) throw new IllegalArgumentException("no room for the PIO data");
        run.set(JAVA_INT, EXIT_REASON, KvmIoctls.KVM_EXIT_IO);
        run.set(JAVA_BYTE, IO_DIRECTION, (byte) direction);
        run.set(JAVA_BYTE, IO_SIZE, (byte) size);
        run.set(JAVA_SHORT, IO_PORT, (short) port);
        run.set(JAVA_INT, IO_COUNT, count);
        run.set(JAVA_LONG, IO_DATA_OFFSET, dataOffset);
        return ioData();
    }

    /** Writes a KVM_EXIT_MMIO record as KVM would; {@code data}'s low {@code len} bytes for a write. */
    public void recordMmioExit(long address, int len, boolean write, long data) {
        run.set(JAVA_INT, EXIT_REASON, KvmIoctls.KVM_EXIT_MMIO);
        run.set(JAVA_LONG, MMIO_PHYS_ADDR, address);
        run.set(JAVA_INT, MMIO_LEN, len);
        run.set(JAVA_BYTE, MMIO_IS_WRITE, (byte) (write ? 1 : 0));
        run.set(JAVA_LONG, MMIO_DATA, write ? data : 0);
    }

    public MemorySegment segment() { return run; }

    public int exitReason() { return run.get(JAVA_INT, EXIT_REASON); }

    /** Setting this makes the next (or a signal-interrupted) KVM_RUN return at once with EINTR. */
    public void setImmediateExit(boolean on) { run.set(JAVA_BYTE, IMMEDIATE_EXIT, (byte) (on ? 1 : 0)); }

    public void setRequestInterruptWindow(boolean on) { run.set(JAVA_BYTE, REQUEST_INTERRUPT_WINDOW, (byte) (on ? 1 : 0)); }

    public boolean ifFlag() { return run.get(JAVA_BYTE, IF_FLAG) != 0; }

    public boolean readyForInterruptInjection() { return run.get(JAVA_BYTE, READY_FOR_INJECTION) != 0; }

    public long hardwareExitReason() { return run.get(JAVA_LONG, HW_EXIT_REASON); }

    public long hardwareEntryFailureReason() { return run.get(JAVA_LONG, FAIL_ENTRY_REASON); }

    public int ioDirection() { return run.get(JAVA_BYTE, IO_DIRECTION); }

    public int ioSize() { return run.get(JAVA_BYTE, IO_SIZE); }

    public int ioPort() { return run.get(JAVA_SHORT, IO_PORT) & 0xffff; }

    public int ioCount() { return run.get(JAVA_INT, IO_COUNT); }

    /** The bytes of a PIO exit: {@code count * size} bytes inside the kvm_run mapping. */
    public MemorySegment ioData() {
        long off = run.get(JAVA_LONG, IO_DATA_OFFSET);
        long len = (long) ioSize() * ioCount();
        return run.asSlice(off, len);
    }

    public long mmioPhysAddr() { return run.get(JAVA_LONG, MMIO_PHYS_ADDR); }

    public int mmioLen() { return run.get(JAVA_INT, MMIO_LEN); }

    public boolean mmioIsWrite() { return run.get(JAVA_BYTE, MMIO_IS_WRITE) != 0; }

    /** The 8-byte MMIO data buffer. */
    public MemorySegment mmioData() { return run.asSlice(MMIO_DATA, 8); }

    public int internalSuberror() { return run.get(JAVA_INT, INTERNAL_SUBERROR); }

    public long[] internalData() {
        int n = Math.min(run.get(JAVA_INT, INTERNAL_NDATA), 16);
        long[] d = new long[Math.max(n, 0)];
        for (int i = 0; i < d.length; i++) d[i] = run.get(JAVA_LONG, INTERNAL_DATA + 8L * i);
        return d;
    }

    public int systemEventType() { return run.get(JAVA_INT, SYSTEM_EVENT_TYPE); }

    public int exception() { return run.get(JAVA_INT, EX_EXCEPTION); }

    public int exceptionErrorCode() { return run.get(JAVA_INT, EX_ERROR_CODE); }
}
