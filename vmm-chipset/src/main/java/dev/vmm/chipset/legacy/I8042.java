package dev.vmm.chipset.legacy;

import dev.vmm.chipset.bus.ByteRegisterDevice;
import dev.vmm.chipset.bus.InterruptLine;
import java.util.ArrayDeque;
import java.util.Objects;

/**
 * The PS/2 keyboard controller (Intel 8042): data port 0x60 and status/command port 0x64, served as
 * one device registered at base 0x60 with length 5 (offsets 0 and 4; offsets 1-3 read as all ones).
 *
 * <p>What is modelled, and why:
 * <ul>
 *   <li>The controller: command byte and the rest of its 32 bytes of RAM (commands 0x20-0x3f /
 *       0x60-0x7f), self test (0xaa &rarr; 0x55), interface tests, port enable/disable, output port
 *       read/write, the AUX loopback (0xd3, which Linux uses to detect the AUX port and to test
 *       IRQ 12), and reset: command 0xfe (or any 0xf0-0xff pulse with bit 0 clear, or an output
 *       port write with bit 0 clear) calls the reset callback. This is how Linux reboots with
 *       {@code reboot=k}, its default fallback.</li>
 *   <li>A keyboard that answers the commands Linux's atkbd driver sends during probe (identify,
 *       reset, LEDs, typematic, scan code set, enable/disable) with the right acknowledgements,
 *       so probing finishes at once instead of waiting for time-outs. It has no keys; bytes can be
 *       injected with {@link #injectKeyboardBytes} (exactly as the guest should read them, no
 *       scan code translation is applied).</li>
 *   <li>An AUX port with no mouse plugged in: bytes sent to it (0xd4) are answered at once with
 *       0xfe and the time-out status bit, which makes psmouse give up quickly.</li>
 * </ul>
 *
 * <p>Interrupts: IRQ 1 is asserted while the output buffer holds a keyboard/controller byte and the
 * command byte enables keyboard interrupts; IRQ 12 likewise for AUX bytes. Reading the data port
 * drops the line before the next queued byte is loaded, so an edge-triggered IOAPIC pin sees one
 * edge per byte.
 *
 * <p>The gate A20 bit of the output port is stored but has no effect: a KVM guest's A20 is always on.
 */
public final class I8042 implements ByteRegisterDevice {
    public static final int BASE = 0x60;
    public static final int SIZE = 5;
    static final int DATA = 0, COMMAND = 4;

    // Status register bits.
    static final int STR_OBF = 0x01, STR_SYS = 0x04, STR_CMD = 0x08, STR_UNLOCKED = 0x10, STR_AUXDATA = 0x20,
            STR_TIMEOUT = 0x40;
    // Command byte (controller RAM byte 0) bits.
    static final int CTR_KBDINT = 0x01, CTR_AUXINT = 0x02, CTR_SYS = 0x04, CTR_KBDDIS = 0x10, CTR_AUXDIS = 0x20,
            CTR_XLATE = 0x40;
    /** Typical state after a PC BIOS: both interrupts on, POST passed, translation on. */
    static final int CTR_POWER_ON = CTR_KBDINT | CTR_AUXINT | CTR_SYS | CTR_XLATE;

    // Output buffer entry flags (above the data byte).
    private static final int FROM_AUX = 0x100, TIMED_OUT = 0x200, EMPTY = -1;
    private static final int QUEUE_LIMIT = 16;

    private final InterruptLine kbdIrq;
    private final InterruptLine auxIrq;
    private final Runnable resetRequest;

    private final byte[] ram = new byte[32]; // ram[0] is the command byte
    private int outputPort;
    private int pendingCommand;              // a controller command waiting for its data byte, or 0
    private boolean lastWriteWasCommand;
    private int outputBuffer = EMPTY;        // data | FROM_AUX | TIMED_OUT
    private int lastRead;
    private final ArrayDeque<Integer> kbdQueue = new ArrayDeque<>();
    private boolean kbdLevel, auxLevel;

    // The keyboard.
    private int kbdPendingCommand;           // 0xed/0xf3/0xf0 waiting for a parameter, or 0
    private int kbdLastSent = 0xfa;
    private boolean kbdScanning;
    private int kbdScanSet;
    private int kbdLeds;
    private int kbdTypematic;

    /**
     * @param kbdIrq       ISA IRQ 1
     * @param auxIrq       ISA IRQ 12
     * @param resetRequest called (on the vCPU thread, with the controller locked) when the guest
     *                     pulses the CPU reset line; the VMM should stop the vCPUs and reset or exit
     */
    public I8042(InterruptLine kbdIrq, InterruptLine auxIrq, Runnable resetRequest) {
        this.kbdIrq = Objects.requireNonNull(kbdIrq, "kbdIrq");
        this.auxIrq = Objects.requireNonNull(auxIrq, "auxIrq");
        this.resetRequest = Objects.requireNonNull(resetRequest, "resetRequest");
        powerOn();
    }

    /** Back to the power-on state; lowers both lines. */
    public synchronized void reset() {
        powerOn();
        updateInterrupts(false);
    }

    private void powerOn() {
        java.util.Arrays.fill(ram, (byte) 0);
        ram[0] = (byte) CTR_POWER_ON;
        outputPort = 0x03; // reset line inactive, A20 on
        pendingCommand = 0;
        lastWriteWasCommand = false;
        outputBuffer = EMPTY;
        lastRead = 0;
        kbdQueue.clear();
        kbdPendingCommand = 0;
        kbdLastSent = 0xfa;
        kbdScanning = true;
        kbdScanSet = 2;
        kbdLeds = 0;
        kbdTypematic = 0x2b;
    }

    /**
     * Queues bytes as if the keyboard had sent them (they appear at port 0x60 as given). Returns
     * how many were taken; the keyboard's buffer holds 16, and nothing is taken while the guest
     * has disabled scanning.
     */
    public synchronized int injectKeyboardBytes(byte... bytes) {
        if (!kbdScanning) return 0;
        int n = 0;
        for (byte b : bytes) {
            if (kbdQueue.size() >= QUEUE_LIMIT) break;
            kbdQueue.add(b & 0xff);
            n++;
        }
        refill();
        updateInterrupts(false);
        return n;
    }

    /** The command byte (for tests and diagnostics). */
    public synchronized int commandByte() {
        return ram[0] & 0xff;
    }

    // ---- bus ----



    @Override
    public synchronized int readByte(long offset) {
        if (offset == DATA) return readData();
        if (offset == COMMAND) return status();
        return 0xff;
    }

    @Override
    public synchronized void writeByte(long offset, int v) {
        if (offset == DATA) {
            lastWriteWasCommand = false;
            writeData(v);
        } else if (offset == COMMAND) {
            lastWriteWasCommand = true;
            command(v);
        }
    }

    private int status() {
        int s = STR_UNLOCKED;
        if ((ram[0] & CTR_SYS) != 0) s |= STR_SYS;
        if (lastWriteWasCommand) s |= STR_CMD;
        if (outputBuffer != EMPTY) {
            s |= STR_OBF;
            if ((outputBuffer & FROM_AUX) != 0) s |= STR_AUXDATA;
            if ((outputBuffer & TIMED_OUT) != 0) s |= STR_TIMEOUT;
        }
        return s;
    }

    private int readData() {
        if (outputBuffer == EMPTY) return lastRead; // the latch keeps its last value
        lastRead = outputBuffer & 0xff;
        outputBuffer = EMPTY;
        refill();
        updateInterrupts(true);
        return lastRead;
    }

    private void command(int cmd) {
        pendingCommand = 0;
        if (cmd >= 0x20 && cmd <= 0x3f) {
            reply(ram[cmd & 0x1f] & 0xff);
        } else if (cmd >= 0x60 && cmd <= 0x7f) {
            pendingCommand = cmd;
        } else if (cmd >= 0xf0) {
            // Pulse output port lines for 6 µs: a clear bit selects the line; bit 0 is CPU reset.
            if ((cmd & 0x01) == 0) resetRequest.run();
        } else {
            switch (cmd) {
                case 0xa7 -> setCommandByte((ram[0] & 0xff) | CTR_AUXDIS);
                case 0xa8 -> setCommandByte((ram[0] & 0xff) & ~CTR_AUXDIS);
                case 0xa9, 0xab -> reply(0x00); // AUX / keyboard interface test: no fault
                case 0xaa -> {
                    setCommandByte((ram[0] & 0xff) | CTR_SYS);
                    reply(0x55);
                }
                case 0xad -> setCommandByte((ram[0] & 0xff) | CTR_KBDDIS);
                case 0xae -> setCommandByte((ram[0] & 0xff) & ~CTR_KBDDIS);
                case 0xc0 -> reply(0x80); // input port: keyboard not inhibited
                case 0xd0 -> reply(outputPort);
                case 0xe0 -> reply(0x00); // test inputs
                case 0xd1, 0xd2, 0xd3, 0xd4 -> pendingCommand = cmd;
                case 0xdd -> outputPort &= ~0x02; // A20 off (no effect under KVM)
                case 0xdf -> outputPort |= 0x02;
                default -> { } // unknown commands are ignored, as most controllers do
            }
        }
    }

    private void writeData(int v) {
        int cmd = pendingCommand;
        pendingCommand = 0;
        if (cmd >= 0x60 && cmd <= 0x7f) {
            if (cmd == 0x60) setCommandByte(v);
            else ram[cmd & 0x1f] = (byte) v;
            return;
        }
        switch (cmd) {
            case 0xd1 -> {
                outputPort = v;
                if ((v & 0x01) == 0) resetRequest.run();
            }
            case 0xd2 -> outputBuffer(v); // as if the keyboard had sent it
            case 0xd3 -> outputBuffer(v | FROM_AUX); // AUX loopback
            case 0xd4 -> outputBuffer(0xfe | FROM_AUX | TIMED_OUT); // no mouse plugged in
            default -> keyboardReceive(v);
        }
    }

    private void setCommandByte(int v) {
        ram[0] = (byte) v;
        refill(); // re-enabling a port may release queued bytes
        updateInterrupts(false);
    }

    /** A controller-generated byte: it takes the output buffer directly. */
    private void reply(int v) {
        outputBuffer(v);
    }

    private void outputBuffer(int entry) {
        outputBuffer = entry;
        updateInterrupts(false);
    }

    /**
     * Moves a queued keyboard byte into the empty output buffer unless the keyboard interface is
     * disabled. (The AUX side has no device, so nothing ever queues there.)
     */
    private void refill() {
        if (outputBuffer == EMPTY && (ram[0] & CTR_KBDDIS) == 0 && !kbdQueue.isEmpty()) {
            outputBuffer = kbdQueue.poll();
        }
    }

    private void updateInterrupts(boolean dropFirst) {
        boolean full = outputBuffer != EMPTY;
        boolean aux = full && (outputBuffer & FROM_AUX) != 0;
        boolean kbd = full && !aux && (ram[0] & CTR_KBDINT) != 0;
        aux = aux && (ram[0] & CTR_AUXINT) != 0;
        if (dropFirst) {
            // The byte was consumed: give the next one its own edge.
            if (kbdLevel) kbdIrq.set(kbdLevel = false);
            if (auxLevel) auxIrq.set(auxLevel = false);
        }
        if (kbd != kbdLevel) kbdIrq.set(kbdLevel = kbd);
        if (aux != auxLevel) auxIrq.set(auxLevel = aux);
    }

    // ---- the keyboard ----

    private void keyboardReceive(int b) {
        int pending = kbdPendingCommand;
        kbdPendingCommand = 0;
        if (pending != 0 && b < 0xed) {
            switch (pending) {
                case 0xed -> {
                    kbdLeds = b & 0x07;
                    keyboardSend(0xfa);
                }
                case 0xf3 -> {
                    kbdTypematic = b & 0x7f;
                    keyboardSend(0xfa);
                }
                case 0xf0 -> {
                    if (b == 0) {
                        keyboardSend(0xfa);
                        keyboardSend(translated() ? translatedSetNumber() : kbdScanSet);
                    } else if (b <= 3) {
                        kbdScanSet = b;
                        keyboardSend(0xfa);
                    } else {
                        keyboardSend(0xfe);
                    }
                }
                default -> keyboardSend(0xfe);
            }
            return;
        }
        // A command byte (a parameter >= 0xed is taken as a new command, as real keyboards do).
        switch (b) {
            case 0xed, 0xf3, 0xf0 -> {
                kbdPendingCommand = b;
                keyboardSend(0xfa);
            }
            case 0xee -> keyboardSend(0xee); // echo
            case 0xf2 -> { // identify: MF2 keyboard (second byte as the translating controller delivers it)
                keyboardSend(0xfa);
                keyboardSend(0xab);
                keyboardSend(translated() ? 0x41 : 0x83);
            }
            case 0xf4 -> {
                kbdScanning = true;
                keyboardSend(0xfa);
            }
            case 0xf5 -> {
                kbdScanning = false;
                keyboardDefaults();
                keyboardSend(0xfa);
            }
            case 0xf6 -> {
                keyboardDefaults();
                keyboardSend(0xfa);
            }
            case 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd -> keyboardSend(0xfa); // set-3 key modes
            case 0xfe -> keyboardSend(kbdLastSent, false);
            case 0xff -> {
                kbdQueue.clear();
                keyboardDefaults();
                kbdScanning = true;
                keyboardSend(0xfa);
                keyboardSend(0xaa); // basic assurance test passed
            }
            default -> keyboardSend(0xfe); // unknown: ask for a resend
        }
    }

    private boolean translated() {
        return (ram[0] & CTR_XLATE) != 0;
    }

    /** Set numbers 1, 2, 3 as they read through the controller's set-2-to-set-1 translation. */
    private int translatedSetNumber() {
        return switch (kbdScanSet) {
            case 1 -> 0x43;
            case 2 -> 0x41;
            default -> 0x3f;
        };
    }

    private void keyboardDefaults() {
        kbdScanSet = 2;
        kbdTypematic = 0x2b;
        kbdLeds = 0;
    }

    private void keyboardSend(int b) {
        keyboardSend(b, true);
    }

    private void keyboardSend(int b, boolean remember) {
        if (remember) kbdLastSent = b;
        if (kbdQueue.size() < QUEUE_LIMIT) kbdQueue.add(b);
        refill();
        updateInterrupts(false);
    }

    /** The keyboard LED state last set by the guest (bit 0 scroll, 1 num, 2 caps lock). */
    public synchronized int keyboardLeds() {
        return kbdLeds;
    }
    // ---- snapshot ----

    /**
     * Controller RAM, output port, output buffer and pending command, plus the keyboard's queue
     * and settings. {@code outputBuffer} is -1 when empty, else the byte with 0x100 set for AUX
     * data and 0x200 for a time-out.
     */
    public record State(byte[] ram, int outputPort, int pendingCommand, boolean lastWriteWasCommand,
                        int outputBuffer, int lastRead, byte[] keyboardQueue, int keyboardPendingCommand,
                        int keyboardLastSent, boolean keyboardScanning, int keyboardScanSet, int keyboardLeds,
                        int keyboardTypematic) {
        public State {
            if (ram.length != 32) throw new IllegalArgumentException("controller RAM must be 32 bytes");
            if (keyboardQueue.length > QUEUE_LIMIT) throw new IllegalArgumentException("keyboard queue too long");
            if (outputBuffer < EMPTY || outputBuffer > 0x3ff) throw new IllegalArgumentException("bad output buffer");
            if (keyboardScanSet < 1 || keyboardScanSet > 3) throw new IllegalArgumentException("bad scan code set");
            ram = ram.clone();
            keyboardQueue = keyboardQueue.clone();
        }

        @Override public byte[] ram() { return ram.clone(); }

        @Override public byte[] keyboardQueue() { return keyboardQueue.clone(); }
    }

    public synchronized State state() {
        byte[] q = new byte[kbdQueue.size()];
        int i = 0;
        for (int b : kbdQueue) q[i++] = (byte) b;
        return new State(ram, outputPort, pendingCommand, lastWriteWasCommand, outputBuffer, lastRead, q,
                kbdPendingCommand, kbdLastSent, kbdScanning, kbdScanSet, kbdLeds, kbdTypematic);
    }

    /** Loads a saved state and drives both lines to match it. */
    public synchronized void restore(State s) {
        System.arraycopy(s.ram, 0, ram, 0, ram.length);
        outputPort = s.outputPort & 0xff;
        pendingCommand = s.pendingCommand & 0xff;
        lastWriteWasCommand = s.lastWriteWasCommand;
        outputBuffer = s.outputBuffer;
        lastRead = s.lastRead & 0xff;
        kbdQueue.clear();
        for (byte b : s.keyboardQueue) kbdQueue.add(b & 0xff);
        kbdPendingCommand = s.keyboardPendingCommand & 0xff;
        kbdLastSent = s.keyboardLastSent & 0xff;
        kbdScanning = s.keyboardScanning;
        kbdScanSet = s.keyboardScanSet;
        kbdLeds = s.keyboardLeds & 0x07;
        kbdTypematic = s.keyboardTypematic & 0x7f;
        kbdLevel = auxLevel = false;
        kbdIrq.set(false);
        auxIrq.set(false);
        updateInterrupts(false);
    }
}
