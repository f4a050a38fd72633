package dev.vmm.machine;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.bus.InterruptLine;
import dev.vmm.ffm.kvm.KvmIoctls;
import dev.vmm.ffm.kvm.KvmRun;
import dev.vmm.vcpu.ExitDispatcher;

import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A PC's port devices ({@link LegacyPcDevices}: COM1, i8042, CMOS, POST port...) behind a port bus,
 * and a {@code kvm_run} area that exits are replayed into and dispatched from by the vCPU's own
 * {@link ExitDispatcher} — the exit path of a guest, without KVM. For the JMH exit benchmark and
 * for the AOT cache's training run: with the profile recorded there, a guest's first exits run
 * compiled code instead of warming up the JIT (the guest kit's first thousand exits were 3.6–5.7×
 * slower than QEMU's, mostly interpreter and C1 time).
 */
public final class ExitReplay implements AutoCloseable {
    private static final InterruptLine NO_IRQ = level -> { };
    private static final int COM1 = LegacyPcDevices.COM1_PORT, LSR = COM1 + 5, CMOS_INDEX = 0x70, CMOS_DATA = 0x71;
    private final Arena arena = Arena.ofConfined();
    private final KvmRun run = KvmRun.over(arena.allocate(KvmRun.size() + 4096, 4096));
    private final ExitDispatcher exits;
    private final ConsoleOutput console;

    /** Serial output discarded. */
    public ExitReplay() {
        this(OutputStream.nullOutputStream());
    }

    /** A 256 MiB PC whose COM1 output goes to {@code console}. */
    public ExitReplay(OutputStream console) {
        Bus pio = new Bus("pio"), mmio = new Bus("mmio");
        this.console = new ConsoleOutput(console);
        LegacyPcDevices.install(pio, irq -> NO_IRQ, 256L << 20, 256L << 20, this.console, exit -> { });
        exits = new ExitDispatcher(run, pio, mmio);
    }

    /** One byte to the serial console as a guest driver sends it: poll LSR until THRE, then THR (2 exits). */
    public void serialByte(byte b) {
        if ((in(LSR) & 0x20) == 0) throw new IllegalStateException("COM1 transmitter not ready");
        out(COM1, b & 0xff);
    }

    /** A CMOS register read: index out, data in (2 exits). */
    public int cmosRead(int index) {
        out(CMOS_INDEX, index);
        return in(CMOS_DATA);
    }

    /** A POST-port write, the delay port guests use (1 exit). */
    public void post(int code) {
        out(LegacyPcDevices.POST_PORT, code);
    }

    /** {@code rounds} rounds of the mix above, as a booting guest produces it (the training run's load). */
    public void mix(int rounds) {
        for (int i = 0; i < rounds; i++) {
            serialByte((byte) ('a' + i % 26));
            cmosRead(i % 10);
            post(i);
        }
    }

    private int in(int port) {
        MemorySegment data = run.recordIoExit(KvmIoctls.KVM_EXIT_IO_IN, 1, port, 1);
        exits.io();
        return data.get(ValueLayout.JAVA_BYTE, 0) & 0xff;
    }

    private void out(int port, int value) {
        run.recordIoExit(KvmIoctls.KVM_EXIT_IO_OUT, 1, port, 1).set(ValueLayout.JAVA_BYTE, 0, (byte) value);
        exits.io();
    }

    @Override
    public void close() {
        console.close(); // flushes what the serial port wrote
        arena.close();
    }
}
