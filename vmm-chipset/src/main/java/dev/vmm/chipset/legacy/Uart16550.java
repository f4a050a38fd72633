package dev.vmm.chipset.legacy;

import dev.vmm.chipset.bus.ByteRegisterDevice;
import dev.vmm.chipset.bus.InterruptLine;
import java.util.Objects;

/**
 * A National Semiconductor 16550A UART as found at COM1..COM4 of a PC: eight byte-wide registers,
 * a 16-byte receive FIFO, and the four-level interrupt identification scheme.
 *
 * <p>Transmission is instantaneous: a byte written to THR goes straight to the {@link ByteSink}, so
 * THR and the transmitter are always empty (LSR.THRE and LSR.TEMT always read 1) and there is no
 * transmit FIFO to fill. This keeps the console hot path (poll LSR, write THR) to a few field updates.
 *
 * <p>Reception: the VMM pushes host input with {@link #enqueue} and applies back-pressure with
 * {@link #rxSpace()}; bytes that do not fit set LSR.OE and are lost, as on the real chip. Because
 * input arrives in bursts with no notion of bit time, the receiver is idle as soon as a burst has
 * been queued: fewer bytes than the trigger level are reported as a character timeout (IIR 0xC)
 * right away instead of after four character times.
 *
 * <p>The interrupt output is wired as on a PC: the line is asserted while an enabled interrupt is
 * pending <em>and</em> MCR.OUT2 is set (OUT2 drives the IRQ buffer's enable). In loopback mode the
 * modem-control outputs are forced inactive, so the line stays low there too.
 *
 * <p>Not modelled: line parameters (word length, parity, stop bits and break are stored but data
 * is passed as whole bytes, since a VMM console has no wire to garble), DMA mode, parity/framing
 * errors and received breaks.
 *
 * <p>Thread safety: guest accesses (vCPU threads) and {@link #enqueue} (the VMM's input thread)
 * synchronise on this object; the sink and the interrupt line are called with the lock held.
 */
public final class Uart16550 implements ByteRegisterDevice {
    /** Registers span eight ports. */
    public static final int SIZE = 8;
    public static final int FIFO_SIZE = 16;

    // Register offsets.
    static final int RBR_THR = 0, IER = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;

    // IER bits.
    static final int IER_RDA = 0x01, IER_THRE = 0x02, IER_RLS = 0x04, IER_MS = 0x08;
    // IIR values (bit 0 set = nothing pending; bits 6-7 = FIFOs enabled).
    static final int IIR_NONE = 0x01, IIR_RLS = 0x06, IIR_RDA = 0x04, IIR_TIMEOUT = 0x0c, IIR_THRE = 0x02,
            IIR_MS = 0x00, IIR_FIFO = 0xc0;
    // FCR bits.
    static final int FCR_ENABLE = 0x01, FCR_CLEAR_RX = 0x02, FCR_CLEAR_TX = 0x04, FCR_DMA = 0x08;
    // LCR bits.
    static final int LCR_DLAB = 0x80;
    // MCR bits.
    static final int MCR_DTR = 0x01, MCR_RTS = 0x02, MCR_OUT1 = 0x04, MCR_OUT2 = 0x08, MCR_LOOP = 0x10;
    // LSR bits.
    static final int LSR_DR = 0x01, LSR_OE = 0x02, LSR_THRE = 0x20, LSR_TEMT = 0x40;
    static final int LSR_ERROR_BITS = 0x1e;
    // MSR bits.
    static final int MSR_DCTS = 0x01, MSR_DDSR = 0x02, MSR_TERI = 0x04, MSR_DDCD = 0x08,
            MSR_CTS = 0x10, MSR_DSR = 0x20, MSR_RI = 0x40, MSR_DCD = 0x80;
    /** Outside loopback the "modem" is a console that is always there and always ready. */
    static final int MSR_LINES_CONNECTED = MSR_DCD | MSR_DSR | MSR_CTS;

    private static final int[] TRIGGER_LEVELS = {1, 4, 8, 14};

    private final InterruptLine irq;
    private final ByteSink out;
    private volatile Runnable rxDrained = () -> { };

    private int dll, dlm, ier, lcr, mcr, scr, fcr;
    private int lsrErrors;          // OE (and, if ever modelled, PE/FE/BI) until LSR is read
    private int msrDeltas;          // MSR bits 0-3 until MSR is read
    private boolean threPending;    // the THR-empty interrupt condition (cleared by IIR read or THR write)
    private final byte[] rx = new byte[FIFO_SIZE];
    private int rxHead, rxCount;
    private boolean irqLevel;       // what we last drove the line to

    public Uart16550(InterruptLine irq, ByteSink out) {
        this.irq = Objects.requireNonNull(irq, "irq");
        this.out = Objects.requireNonNull(out, "out");
        resetRegisters();
    }

    /**
     * Called (with the UART locked, on the vCPU thread) whenever the receiver can take host input
     * again: the guest emptied the receive FIFO, or left loopback mode. A VMM input thread that
     * stopped because {@link #rxSpace()} was 0 can be woken from here. Must not block.
     */
    public void onRxDrained(Runnable listener) {
        this.rxDrained = Objects.requireNonNull(listener);
    }

    /** Back to the power-on state (a machine reset). Lowers the interrupt line. */
    public synchronized void reset() {
        resetRegisters();
        updateInterrupt();
    }

    private void resetRegisters() {
        dll = 0x0c; // 9600 baud with the PC's 1.8432 MHz crystal
        dlm = 0;
        ier = lcr = mcr = scr = fcr = 0;
        lsrErrors = msrDeltas = 0;
        threPending = false;
        rxHead = rxCount = 0;
    }

    // ---- host side ----

    /**
     * Queues host input for the guest. Returns how many bytes were stored; the rest overran the
     * FIFO (LSR.OE is set and they are lost). In loopback mode the receiver is disconnected from
     * the outside and nothing is taken.
     */
    public synchronized int enqueue(byte[] data, int off, int len) {
        Objects.checkFromIndexSize(off, len, data.length);
        if ((mcr & MCR_LOOP) != 0) return 0;
        int stored = 0;
        for (int i = 0; i < len; i++) {
            if (receive(data[off + i])) stored++;
        }
        updateInterrupt();
        return stored;
    }

    public int enqueue(byte[] data) {
        return enqueue(data, 0, data.length);
    }

    /**
     * How many bytes {@link #enqueue} can take without overrun: 16 minus the FIFO fill (1 minus it
     * with FIFOs disabled), and 0 in loopback mode.
     */
    public synchronized int rxSpace() {
        return (mcr & MCR_LOOP) != 0 ? 0 : rxCapacity() - rxCount;
    }

    /** Whether the interrupt line is currently asserted. */
    public synchronized boolean interruptAsserted() {
        return irqLevel;
    }

    // ---- guest side ----



    @Override
    public synchronized int readByte(long offset) {
        if (offset < 0 || offset >= SIZE) return 0xff;
        switch ((int) offset) {
            case RBR_THR:
                if ((lcr & LCR_DLAB) != 0) return dll;
                return readRbr();
            case IER:
                return (lcr & LCR_DLAB) != 0 ? dlm : ier;
            case IIR_FCR:
                return readIir();
            case LCR:
                return lcr;
            case MCR:
                return mcr;
            case LSR: {
                int v = lsr();
                if (lsrErrors != 0) {
                    lsrErrors = 0;
                    updateInterrupt();
                }
                return v;
            }
            case MSR: {
                int v = modemLines() | msrDeltas;
                if (msrDeltas != 0) {
                    msrDeltas = 0;
                    updateInterrupt();
                }
                return v;
            }
            default:
                return scr;
        }
    }

    @Override
    public synchronized void writeByte(long offset, int v) {
        if (offset < 0 || offset >= SIZE) return;
        switch ((int) offset) {
            case RBR_THR:
                if ((lcr & LCR_DLAB) != 0) dll = v;
                else writeThr((byte) v);
                break;
            case IER:
                if ((lcr & LCR_DLAB) != 0) dlm = v;
                else writeIer(v);
                break;
            case IIR_FCR:
                writeFcr(v);
                break;
            case LCR:
                lcr = v;
                break;
            case MCR:
                writeMcr(v);
                break;
            case SCR:
                scr = v;
                break;
            default:
                break; // LSR and MSR are read-only (their factory-test writes are not modelled)
        }
    }

    /** The console hot path: one byte out, THR empty again at once. */
    private void writeThr(byte b) {
        if ((mcr & MCR_LOOP) != 0) {
            receive(b);
        } else {
            out.write(b);
        }
        // Writing THR clears a pending THRE interrupt; the byte leaves at once, so THR is empty
        // again and the interrupt is re-armed if enabled.
        boolean pending = (ier & IER_THRE) != 0;
        if (pending != threPending || (mcr & MCR_LOOP) != 0) {
            threPending = pending;
            updateInterrupt();
        }
    }

    private void writeIer(int v) {
        v &= 0x0f; // bits 4-7 are hard-wired to zero on a 16550A (Linux probes this)
        int rising = v & ~ier;
        ier = v;
        if ((v & IER_THRE) == 0) {
            threPending = false;
        } else if ((rising & IER_THRE) != 0) {
            // Enabling the THRE interrupt while THR is empty raises it immediately; Linux's 8250
            // driver checks for this to decide whether the UART has the "THRE bug".
            threPending = true;
        }
        updateInterrupt();
    }

    private void writeFcr(int v) {
        boolean enable = (v & FCR_ENABLE) != 0;
        boolean hadData = rxCount > 0;
        if (enable != fifoEnabled()) {
            // Switching between 16450 and FIFO mode empties the FIFOs.
            rxHead = rxCount = 0;
        }
        if (enable) {
            if ((v & FCR_CLEAR_RX) != 0) rxHead = rxCount = 0;
            // FCR_CLEAR_TX: the transmitter is always empty. Bits 1-2 self-clear; keep the rest.
            fcr = v & (FCR_ENABLE | FCR_DMA | 0xc0);
        } else {
            fcr = 0; // other bits are only programmed together with FCR0
        }
        updateInterrupt();
        if (hadData && rxCount == 0) rxDrained.run();
    }

    private void writeMcr(int v) {
        boolean leavingLoopback = (mcr & MCR_LOOP) != 0 && (v & MCR_LOOP) == 0;
        int before = modemLines();
        mcr = v & 0x1f; // bits 5-7 read as zero on a 16550A
        int after = modemLines();
        int changed = before ^ after;
        if ((changed & MSR_CTS) != 0) msrDeltas |= MSR_DCTS;
        if ((changed & MSR_DSR) != 0) msrDeltas |= MSR_DDSR;
        if ((before & MSR_RI) != 0 && (after & MSR_RI) == 0) msrDeltas |= MSR_TERI;
        if ((changed & MSR_DCD) != 0) msrDeltas |= MSR_DDCD;
        updateInterrupt();
        if (leavingLoopback && rxCount < rxCapacity()) rxDrained.run(); // host input accepted again
    }

    private int readRbr() {
        if (rxCount == 0) return 0;
        int b = rx[rxHead] & 0xff;
        rxHead = (rxHead + 1) % FIFO_SIZE;
        rxCount--;
        updateInterrupt();
        if (rxCount == 0) rxDrained.run();
        return b;
    }

    private int readIir() {
        int id = interruptId();
        if (id == IIR_THRE) {
            // Reading IIR acknowledges a THRE interrupt when it is the one reported.
            threPending = false;
            updateInterrupt();
        }
        return id | (fifoEnabled() ? IIR_FIFO : 0);
    }

    private int lsr() {
        return (rxCount > 0 ? LSR_DR : 0) | lsrErrors | LSR_THRE | LSR_TEMT;
    }

    /** MSR bits 4-7: in loopback the MCR outputs, otherwise an always-ready peer. */
    private int modemLines() {
        if ((mcr & MCR_LOOP) == 0) return MSR_LINES_CONNECTED;
        int v = 0;
        if ((mcr & MCR_RTS) != 0) v |= MSR_CTS;
        if ((mcr & MCR_DTR) != 0) v |= MSR_DSR;
        if ((mcr & MCR_OUT1) != 0) v |= MSR_RI;
        if ((mcr & MCR_OUT2) != 0) v |= MSR_DCD;
        return v;
    }

    /** Stores a received byte; returns false (and flags an overrun) if there was no room. */
    private boolean receive(byte b) {
        int cap = rxCapacity();
        if (rxCount < cap) {
            rx[(rxHead + rxCount) % FIFO_SIZE] = b;
            rxCount++;
            return true;
        }
        lsrErrors |= LSR_OE;
        if (cap == 1) rx[rxHead] = b; // 16450 mode: the new byte overwrites the holding register
        return false;
    }

    private boolean fifoEnabled() {
        return (fcr & FCR_ENABLE) != 0;
    }

    private int rxCapacity() {
        return fifoEnabled() ? FIFO_SIZE : 1;
    }

    private int rxTrigger() {
        return fifoEnabled() ? TRIGGER_LEVELS[fcr >>> 6] : 1;
    }

    /** The highest-priority enabled pending interrupt, as IIR bits 0-3. */
    private int interruptId() {
        if ((ier & IER_RLS) != 0 && lsrErrors != 0) return IIR_RLS;
        if ((ier & IER_RDA) != 0 && rxCount > 0) return rxCount >= rxTrigger() ? IIR_RDA : IIR_TIMEOUT;
        if ((ier & IER_THRE) != 0 && threPending) return IIR_THRE;
        if ((ier & IER_MS) != 0 && msrDeltas != 0) return IIR_MS;
        return IIR_NONE;
    }

    private void updateInterrupt() {
        boolean level = interruptId() != IIR_NONE && (mcr & (MCR_OUT2 | MCR_LOOP)) == MCR_OUT2;
        if (level != irqLevel) {
            irqLevel = level;
            irq.set(level);
        }
    }

    // ---- snapshot ----

    /** Every register and the receive FIFO contents (oldest first), for snapshots and migration. */
    public record State(int dll, int dlm, int ier, int lcr, int mcr, int scr, int fcr, int lsrErrors,
                        int msrDeltas, boolean threPending, byte[] rxFifo) {
        public State {
            rxFifo = rxFifo.clone();
            checkByte("dll", dll);
            checkByte("dlm", dlm);
            checkByte("lcr", lcr);
            checkByte("scr", scr);
            if ((ier & ~0x0f) != 0) throw new IllegalArgumentException("bad IER 0x" + Integer.toHexString(ier));
            if ((mcr & ~0x1f) != 0) throw new IllegalArgumentException("bad MCR 0x" + Integer.toHexString(mcr));
            if ((fcr & ~(FCR_ENABLE | FCR_DMA | 0xc0)) != 0 || (fcr != 0 && (fcr & FCR_ENABLE) == 0))
                throw new IllegalArgumentException("bad FCR 0x" + Integer.toHexString(fcr));
            if ((lsrErrors & ~LSR_ERROR_BITS) != 0)
                throw new IllegalArgumentException("bad LSR error bits 0x" + Integer.toHexString(lsrErrors));
            if ((msrDeltas & ~0x0f) != 0)
                throw new IllegalArgumentException("bad MSR deltas 0x" + Integer.toHexString(msrDeltas));
            int cap = (fcr & FCR_ENABLE) != 0 ? FIFO_SIZE : 1;
            if (rxFifo.length > cap)
                throw new IllegalArgumentException("receive FIFO holds " + rxFifo.length + " bytes, capacity " + cap);
        }

        @Override
        public byte[] rxFifo() {
            return rxFifo.clone();
        }

        private static void checkByte(String name, int v) {
            if ((v & ~0xff) != 0) throw new IllegalArgumentException("bad " + name + " 0x" + Integer.toHexString(v));
        }
    }

    public synchronized State state() {
        byte[] fifo = new byte[rxCount];
        for (int i = 0; i < rxCount; i++) fifo[i] = rx[(rxHead + i) % FIFO_SIZE];
        return new State(dll, dlm, ier, lcr, mcr, scr, fcr, lsrErrors, msrDeltas, threPending, fifo);
    }

    /** Loads a saved state (already validated by {@link State}) and drives the line to match it. */
    public synchronized void restore(State s) {
        dll = s.dll;
        dlm = s.dlm;
        ier = s.ier;
        lcr = s.lcr;
        mcr = s.mcr;
        scr = s.scr;
        fcr = s.fcr;
        lsrErrors = s.lsrErrors;
        msrDeltas = s.msrDeltas;
        threPending = s.threPending && (s.ier & IER_THRE) != 0;
        rxHead = 0;
        rxCount = s.rxFifo.length;
        System.arraycopy(s.rxFifo, 0, rx, 0, rxCount);
        irqLevel = interruptId() != IIR_NONE && (mcr & (MCR_OUT2 | MCR_LOOP)) == MCR_OUT2;
        irq.set(irqLevel); // the line's previous owner may have left it either way
    }
}
