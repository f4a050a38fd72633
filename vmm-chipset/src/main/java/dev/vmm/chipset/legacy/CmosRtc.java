package dev.vmm.chipset.legacy;

import dev.vmm.chipset.bus.ByteRegisterDevice;
import dev.vmm.chipset.bus.InterruptLine;
import java.time.Clock;
import java.time.DateTimeException;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.util.Objects;

/**
 * The PC's CMOS RAM and real-time clock (Motorola MC146818A): index port 0x70 (bit 7 masks NMI)
 * and data port 0x71, one device at base 0x70 with length 2.
 *
 * <p>The clock is a view of a host {@link Clock} plus an offset: reading a time register computes
 * it from {@code clock.instant() + offset} in the clock's time zone (give it {@code Clock.systemUTC()}
 * for the usual "RTC in UTC" guest), in BCD or binary and 12- or 24-hour form as status register B
 * says. Setting the time (status B SET bit, write the registers, clear SET; or writing a time
 * register while the clock runs) changes only the offset, so the host clock is never touched.
 *
 * <p>Status A's update-in-progress bit is set during the last 244 µs of every second, as on the
 * chip (the update itself then happens instantly at the second boundary, so the registers are
 * never inconsistent). Status D always reports valid RAM and time.
 *
 * <p><b>Interrupts.</b> Status C's flags are brought up to date lazily, from the time passed since
 * the previous look ({@link #poll()} or any register access): UF at each update (each second while
 * the divider runs and SET is clear), AF at an update whose seconds/minutes/hours match the alarm
 * registers ({@link RtcAlarm}: 0xC0-0xFF is "don't care"), PF at each tick of the rate status A's RS
 * bits select — only while PIE is set, as in QEMU's model. IRQF = (PF·PIE)+(AF·AIE)+(UF·UIE), and
 * IRQ 8 follows IRQF as a level (one rising edge per new interrupt, what the edge-triggered ISA pin
 * of the IOAPIC/PIC needs); reading C returns and clears the flags and drops the line. The model
 * has no thread: the machine's timer thread sleeps until {@link #nextDeadlineNanos()} and calls
 * {@link #poll()}; {@link #onReprogram} tells it when a register access moved that deadline.
 * Status A's DV bits hold the clock (divider reset 11x): time stops, no updates; releasing the
 * reset makes the first update come half a second later, as the data sheet says.
 *
 * <p>CMOS bytes used by firmware for the memory size are filled from the constructor: base memory
 * (0x15/0x16, 640 KiB), extended memory in KiB above 1 MiB capped at 0xffff (0x17/0x18 and
 * 0x30/0x31), memory above 16 MiB in 64 KiB units (0x34/0x35) and memory above 4 GiB in 64 KiB
 * units (0x5b-0x5d). The century is at 0x32 (point the ACPI FADT's CENTURY field there).
 */
public final class CmosRtc implements ByteRegisterDevice {
    public static final int BASE = 0x70;
    public static final int SIZE = 2;
    public static final int CENTURY_INDEX = 0x32;

    static final int SECONDS = 0x00, MINUTES = 0x02, HOURS = 0x04, DAY_OF_WEEK = 0x06, DAY_OF_MONTH = 0x07,
            MONTH = 0x08, YEAR = 0x09, STATUS_A = 0x0a, STATUS_B = 0x0b, STATUS_C = 0x0c, STATUS_D = 0x0d;
    static final int SECONDS_ALARM = 0x01, MINUTES_ALARM = 0x03, HOURS_ALARM = 0x05;
    static final int A_UIP = 0x80;
    static final int B_SET = 0x80, B_PIE = 0x40, B_AIE = 0x20, B_UIE = 0x10, B_SQWE = 0x08, B_BINARY = 0x04, B_24H = 0x02;
    /** The flags of status C sit at the same bits as their enables in status B. */
    static final int C_IRQF = 0x80, C_PF = 0x40, C_AF = 0x20, C_UF = 0x10, C_FLAGS = C_PF | C_AF | C_UF;
    static final int D_VRT = 0x80;

    /** UIP rises this long before each update (t_BUC on the data sheet). */
    static final long UIP_WINDOW_NANOS = 244_000;
    private static final long NANOS_PER_SECOND = 1_000_000_000L;
    private static final long MIB = 1L << 20;

    private final Clock clock;
    private final ZoneId zone;
    private final InterruptLine irq;
    private final long ramBelow4g;
    private final long ramAbove4g;

    private final byte[] cmos = new byte[128];
    private int index;
    private boolean nmiDisabled;
    private long offsetNanos;         // guest time = host clock + offset (while the divider runs)
    private long heldGuestNanos;      // guest time while the divider chain is held (status A DV)
    private long lastCheckNanos;      // guest time up to which status C's flags are computed
    private boolean lineHigh;         // IRQ 8 as last driven
    private boolean alarmPending;     // AF·AIE as last computed: an alarm interrupt is reported when it rises
    private boolean hpetLegacy;       // the HPET's legacy replacement owns IRQ 8: the RTC's output is cut off
    private Runnable reprogrammed = () -> { };
    private Runnable alarmInterrupt = () -> { };

    /**
     * @param clock      the host time source (and time zone) the RTC follows
     * @param irq8       ISA IRQ 8, driven as a level that follows IRQF
     * @param ramBelow4g bytes of guest RAM starting at 0 (up to the PCI hole), at most 4 GiB
     * @param ramAbove4g bytes of guest RAM starting at 4 GiB
     */
    public CmosRtc(Clock clock, InterruptLine irq8, long ramBelow4g, long ramAbove4g) {
        this.clock = Objects.requireNonNull(clock, "clock");
        this.zone = clock.getZone();
        this.irq = Objects.requireNonNull(irq8, "irq8");
        if (ramBelow4g <= 0 || ramBelow4g > (4L << 30))
            throw new IllegalArgumentException("RAM below 4 GiB must be in (0, 4 GiB]: " + ramBelow4g);
        if (ramAbove4g < 0) throw new IllegalArgumentException("negative RAM above 4 GiB: " + ramAbove4g);
        this.ramBelow4g = ramBelow4g;
        this.ramAbove4g = ramAbove4g;
        powerOn();
    }

    /** Back to the power-on register state. The time offset survives, as the battery-backed clock does. */
    public synchronized void reset() {
        powerOn();
        driveLine();
        reprogrammed.run();
    }

    /**
     * The chip's RESET pin (a PC asserts it on a system reset, QEMU on an S3 wake): the interrupt
     * enables PIE, AIE, UIE and SQWE and the flags of status C are cleared and IRQ 8 drops; time,
     * status A, the alarm and the CMOS RAM are untouched.
     */
    public synchronized void resetPin() {
        catchUp();
        cmos[STATUS_B] &= (byte) ~(B_PIE | B_AIE | B_UIE | B_SQWE);
        cmos[STATUS_C] = 0;
        updateIrqf();
        reprogrammed.run();
    }

    /**
     * {@code listener} runs (on the accessing thread, with the device locked: it should only wake
     * the timer thread) after each register access that may have moved {@link #nextDeadlineNanos()}.
     */
    public synchronized void onReprogram(Runnable listener) {
        reprogrammed = Objects.requireNonNull(listener);
    }

    /**
     * {@code listener} runs when the alarm flag rises while AIE is set (an alarm interrupt): what
     * wakes a suspended machine. Same threading rules as {@link #onReprogram}.
     */
    public synchronized void onAlarmInterrupt(Runnable listener) {
        alarmInterrupt = Objects.requireNonNull(listener);
    }

    /**
     * The HPET's legacy replacement route takes IRQ 8 over ({@code true}) or gives it back: the
     * RTC's output is disconnected meanwhile, as on QEMU's PC, while its flags keep working (Linux's
     * HPET RTC emulation reads them).
     */
    public synchronized void hpetLegacyRoute(boolean on) {
        hpetLegacy = on;
        driveLine();
    }

    private void powerOn() {
        java.util.Arrays.fill(cmos, (byte) 0);
        index = 0;
        nmiDisabled = false;
        cmos[STATUS_A] = 0x26; // 32.768 kHz time base, 1.024 kHz periodic rate
        cmos[STATUS_B] = B_24H; // BCD, 24-hour
        cmos[STATUS_D] = (byte) D_VRT;
        cmos[0x14] = 0x02; // equipment: FPU present, no floppy, VGA
        setWord(0x15, 640);
        long extKiB = ramBelow4g > MIB ? Math.min((ramBelow4g - MIB) / 1024, 0xffff) : 0;
        setWord(0x17, (int) extKiB);
        setWord(0x30, (int) extKiB);
        long above16M = ramBelow4g > 16 * MIB ? Math.min((ramBelow4g - 16 * MIB) >>> 16, 0xffff) : 0;
        setWord(0x34, (int) above16M);
        long above4G = Math.min(ramAbove4g >>> 16, 0xff_ffff);
        cmos[0x5b] = (byte) above4G;
        cmos[0x5c] = (byte) (above4G >>> 8);
        cmos[0x5d] = (byte) (above4G >>> 16);
        heldGuestNanos = hostNanos() + offsetNanos;
        lastCheckNanos = guestNanos();
    }

    private void setWord(int at, int v) {
        cmos[at] = (byte) v;
        cmos[at + 1] = (byte) (v >>> 8);
    }

    /** The host time source the RTC follows (its timer thread sleeps on the same clock). */
    public Clock clock() {
        return clock;
    }

    /** Whether the guest has masked NMIs through bit 7 of port 0x70. */
    public synchronized boolean nmiDisabled() {
        return nmiDisabled;
    }

    // ---- bus ----



    @Override
    public synchronized int readByte(long offset) {
        if (offset != 1) return 0xff; // the index port is write-only
        catchUp();
        int v = readRegister(index);
        if (index == STATUS_C) reprogrammed.run();
        return v;
    }

    @Override
    public synchronized void writeByte(long offset, int v) {
        if (offset == 0) {
            index = v & 0x7f;
            nmiDisabled = (v & 0x80) != 0;
        } else if (offset == 1) {
            catchUp();
            writeRegister(index, v);
            updateIrqf();
            reprogrammed.run();
        }
    }

    // ---- interrupts ----

    /** Brings status C up to the current time and drives IRQ 8 (the timer thread's entry). */
    public synchronized void poll() {
        catchUp();
    }

    /**
     * The host-clock time (nanoseconds since the epoch of the model's {@link Clock}) of the next
     * event that could raise IRQ 8, or {@link Long#MAX_VALUE} when none can (no enable bit set,
     * the divider held, or IRQF already up: nothing changes the line until status C is read).
     */
    public synchronized long nextDeadlineNanos() {
        int b = cmos[STATUS_B];
        if (!dividerRunning() || (cmos[STATUS_C] & C_IRQF) != 0) return Long.MAX_VALUE;
        long now = guestNanos();
        long next = Long.MAX_VALUE;
        long period = RtcDivider.periodCycles(cmos[STATUS_A]);
        try {
            if ((b & B_PIE) != 0 && period != 0) next = RtcDivider.nextTick(now, period);
            if ((b & B_SET) == 0) {
                long second = Math.floorDiv(now, NANOS_PER_SECOND);
                if ((b & B_UIE) != 0) next = Math.min(next, Math.multiplyExact(second + 1, NANOS_PER_SECOND));
                if ((b & B_AIE) != 0) {
                    long match = alarmAfter(second);
                    if (match != Long.MAX_VALUE) next = Math.min(next, Math.multiplyExact(match, NANOS_PER_SECOND));
                }
            }
            return next == Long.MAX_VALUE ? next : Math.subtractExact(next, offsetNanos);
        } catch (ArithmeticException pastTheEndOfTime) {
            return Long.MAX_VALUE; // guest time at the end of the 64-bit nanosecond range (year 2262): no timer
        }
    }

    private boolean dividerRunning() {
        return RtcDivider.running(cmos[STATUS_A]);
    }

    private long alarmAfter(long second) {
        return RtcAlarm.nextMatch(second, cmos[SECONDS_ALARM], cmos[MINUTES_ALARM], cmos[HOURS_ALARM], cmos[STATUS_B], zone);
    }

    /** Sets the flags of the updates and periodic ticks between the previous look and now. */
    private void catchUp() {
        long now = guestNanos();
        long last = lastCheckNanos;
        lastCheckNanos = now;
        if (now <= last || !dividerRunning()) return; // the host clock stepped back, or time is held
        int flags = 0;
        long period = RtcDivider.periodCycles(cmos[STATUS_A]);
        if ((cmos[STATUS_B] & B_PIE) != 0 && period != 0
                && RtcDivider.periodIndex(now, period) != RtcDivider.periodIndex(last, period)) flags |= C_PF;
        long lastSecond = Math.floorDiv(last, NANOS_PER_SECOND), second = Math.floorDiv(now, NANOS_PER_SECOND);
        if (!setMode() && second != lastSecond) {
            flags |= C_UF;
            if (alarmAfter(lastSecond) <= second) flags |= C_AF;
        }
        cmos[STATUS_C] |= (byte) flags;
        updateIrqf();
    }

    /** IRQF from the flags and their enables, the line after it; an alarm interrupt is reported once, as it rises. */
    private void updateIrqf() {
        int c = cmos[STATUS_C] & C_FLAGS;
        int pending = c & cmos[STATUS_B] & C_FLAGS;
        cmos[STATUS_C] = (byte) (c | (pending != 0 ? C_IRQF : 0));
        driveLine();
        boolean alarm = (pending & C_AF) != 0;
        if (alarm && !alarmPending) alarmInterrupt.run();
        alarmPending = alarm;
    }

    private void driveLine() {
        boolean level = (cmos[STATUS_C] & C_IRQF) != 0 && !hpetLegacy;
        if (level != lineHigh) {
            lineHigh = level;
            irq.set(level);
        }
    }

    private boolean setMode() {
        return (cmos[STATUS_B] & B_SET) != 0;
    }

    private static boolean isTimeRegister(int i) {
        return i == SECONDS || i == MINUTES || i == HOURS || (i >= DAY_OF_WEEK && i <= YEAR) || i == CENTURY_INDEX;
    }

    private int readRegister(int i) {
        if (isTimeRegister(i) && !setMode()) return timeField(i, guestNanos(), cmos[STATUS_B]);
        switch (i) {
            case STATUS_A: {
                int v = cmos[STATUS_A] & 0x7f;
                if (!setMode() && Math.floorMod(guestNanos(), NANOS_PER_SECOND) >= NANOS_PER_SECOND - UIP_WINDOW_NANOS)
                    v |= A_UIP;
                return v;
            }
            case STATUS_C: {
                int v = cmos[STATUS_C] & 0xff;
                cmos[STATUS_C] = 0; // reading C clears it, and IRQF with it
                updateIrqf();
                return v;
            }
            case STATUS_D:
                return D_VRT;
            default:
                return cmos[i] & 0xff;
        }
    }

    private void writeRegister(int i, int v) {
        switch (i) {
            case STATUS_A -> writeStatusA(v);
            case STATUS_B -> writeStatusB(v);
            case STATUS_C, STATUS_D -> { } // read-only
            default -> {
                if (isTimeRegister(i) && !setMode()) {
                    // Setting one field of a running clock: keep the sub-second phase.
                    long now = guestNanos();
                    freeze(now, cmos[STATUS_B]);
                    cmos[i] = (byte) v;
                    thaw(Math.floorMod(now, NANOS_PER_SECOND), cmos[STATUS_B]);
                } else {
                    cmos[i] = (byte) v;
                }
            }
        }
    }

    private void writeStatusA(int v) {
        boolean wasRunning = dividerRunning();
        long now = guestNanos();
        cmos[STATUS_A] = (byte) (v & 0x7f); // UIP is read-only
        boolean running = dividerRunning();
        if (wasRunning && !running) {
            heldGuestNanos = now;
        } else if (!wasRunning && running) {
            // Out of divider reset: the chain restarts at zero, the first update comes 500 ms later.
            long restart = Math.floorDiv(heldGuestNanos, NANOS_PER_SECOND) * NANOS_PER_SECOND + NANOS_PER_SECOND / 2;
            offsetNanos = restart - hostNanos();
            lastCheckNanos = restart;
        }
    }

    private void writeStatusB(int v) {
        boolean wasSet = setMode();
        boolean set = (v & B_SET) != 0;
        if (set) v &= ~B_UIE; // SET clears UIE (data sheet)
        if (set && !wasSet) freeze(guestNanos(), (byte) v);
        // The registers were written in the format in force while SET was held; the new second
        // starts when SET is released.
        if (!set && wasSet) thaw(0, cmos[STATUS_B]);
        cmos[STATUS_B] = (byte) v;
    }

    /** Copies the running time into the time registers, in the given status B format. */
    private void freeze(long nanos, byte statusB) {
        for (int r : new int[] {SECONDS, MINUTES, HOURS, DAY_OF_WEEK, DAY_OF_MONTH, MONTH, YEAR, CENTURY_INDEX})
            cmos[r] = (byte) timeField(r, nanos, statusB);
    }

    /**
     * Makes the time registers the current time by adjusting the offset. Values that do not form a
     * valid date (bad BCD digits, month 13, ...) leave the clock as it was.
     */
    private void thaw(long subSecondNanos, byte b) {
        try {
            int sec = fromRegister(cmos[SECONDS], b);
            int min = fromRegister(cmos[MINUTES], b);
            int hour = hourFromRegister(cmos[HOURS], b);
            int day = fromRegister(cmos[DAY_OF_MONTH], b);
            int month = fromRegister(cmos[MONTH], b);
            int year = fromRegister(cmos[CENTURY_INDEX], b) * 100 + fromRegister(cmos[YEAR], b);
            Instant t = LocalDateTime.of(year, month, day, hour, min, sec).atZone(zone).toInstant();
            long guest = Math.addExact(Math.multiplyExact(t.getEpochSecond(), NANOS_PER_SECOND), subSecondNanos);
            if (dividerRunning()) offsetNanos = guest - hostNanos();
            else heldGuestNanos = guest;
            lastCheckNanos = guest;
        } catch (DateTimeException | ArithmeticException | IllegalArgumentException e) {
            // An impossible date: a real chip would count on from it; we keep the old time.
        }
    }

    private int timeField(int reg, long nanos, byte statusB) {
        LocalDateTime t = LocalDateTime.ofInstant(
                Instant.ofEpochSecond(Math.floorDiv(nanos, NANOS_PER_SECOND), Math.floorMod(nanos, NANOS_PER_SECOND)), zone);
        return switch (reg) {
            case SECONDS -> toRegister(t.getSecond(), statusB);
            case MINUTES -> toRegister(t.getMinute(), statusB);
            case HOURS -> hourRegister(t.getHour(), statusB);
            case DAY_OF_WEEK -> toRegister(t.getDayOfWeek().getValue() % 7 + 1, statusB); // Sunday = 1
            case DAY_OF_MONTH -> toRegister(t.getDayOfMonth(), statusB);
            case MONTH -> toRegister(t.getMonthValue(), statusB);
            case YEAR -> toRegister(Math.floorMod(t.getYear(), 100), statusB);
            case CENTURY_INDEX -> toRegister(Math.floorDiv(t.getYear(), 100), statusB);
            default -> throw new IllegalStateException("not a time register: " + reg);
        };
    }

    /** Hour 0-23 as the hours register holds it (12-hour mode: 1-12 with PM in bit 7). */
    static int hourRegister(int h, byte statusB) {
        if ((statusB & B_24H) != 0) return toRegister(h, statusB);
        int h12 = h % 12 == 0 ? 12 : h % 12;
        return toRegister(h12, statusB) | (h >= 12 ? 0x80 : 0);
    }

    static int toRegister(int v, byte statusB) {
        if ((statusB & B_BINARY) != 0) return v;
        return (v / 10) << 4 | v % 10;
    }

    private static int fromRegister(byte reg, byte statusB) {
        int r = reg & 0xff;
        if ((statusB & B_BINARY) != 0) return r;
        int hi = r >>> 4, lo = r & 0x0f;
        if (hi > 9 || lo > 9) throw new IllegalArgumentException("bad BCD 0x" + Integer.toHexString(r));
        return hi * 10 + lo;
    }

    private static int hourFromRegister(byte reg, byte statusB) {
        if ((statusB & B_24H) != 0) return fromRegister(reg, statusB);
        boolean pm = (reg & 0x80) != 0;
        int h = fromRegister((byte) (reg & 0x7f), statusB);
        if (h < 1 || h > 12) throw new IllegalArgumentException("bad 12-hour value " + h);
        return h % 12 + (pm ? 12 : 0);
    }

    private long hostNanos() {
        Instant now = clock.instant();
        return now.getEpochSecond() * NANOS_PER_SECOND + now.getNano();
    }

    private long guestNanos() {
        return dividerRunning() ? hostNanos() + offsetNanos : heldGuestNanos;
    }

    // ---- snapshot ----

    /**
     * The CMOS bytes (status C's flags included), index/NMI latch, the guest's offset from the host
     * clock (which carries over to the destination host, so guest time keeps following wall-clock
     * time after migration), the guest time while the divider is held, and the guest time up to
     * which the flags are computed. Snapshot section version 2 ({@link StateV1} was version 1).
     */
    public record State(byte[] cmos, int index, boolean nmiDisabled, long offsetNanos, long heldGuestNanos, long lastCheckNanos) {
        public State {
            check(cmos, index);
            cmos = cmos.clone();
        }

        static void check(byte[] cmos, int index) {
            if (cmos.length != 128) throw new IllegalArgumentException("CMOS must be 128 bytes, not " + cmos.length);
            if (index < 0 || index > 0x7f) throw new IllegalArgumentException("bad CMOS index " + index);
        }

        @Override
        public byte[] cmos() {
            return cmos.clone();
        }
    }

    /**
     * Version 1 of the state (before interrupts): the flags were not kept (status C read as 0 in
     * the array) and the last status C read was a whole second. {@link #upgrade} makes it a
     * {@link State}: no pending flags, flags computed from that second on.
     */
    public record StateV1(byte[] cmos, int index, boolean nmiDisabled, long offsetNanos, long lastUfEpochSecond) {
        public StateV1 {
            State.check(cmos, index); // when the stream is read, as State does
        }

        public State upgrade() {
            long last;
            try {
                last = Math.multiplyExact(lastUfEpochSecond, NANOS_PER_SECOND);
            } catch (ArithmeticException e) {
                last = 0; // not a time any version-1 writer produced; the flags simply start from the epoch
            }
            return new State(cmos, index, nmiDisabled, offsetNanos, last, last);
        }
    }

    public synchronized State state() {
        return new State(cmos, index, nmiDisabled, offsetNanos, heldGuestNanos, lastCheckNanos);
    }

    public synchronized void restore(State s) {
        System.arraycopy(s.cmos, 0, cmos, 0, cmos.length);
        cmos[STATUS_C] &= (byte) (C_FLAGS | C_IRQF);
        index = s.index;
        nmiDisabled = s.nmiDisabled;
        offsetNanos = s.offsetNanos;
        heldGuestNanos = s.heldGuestNanos;
        lastCheckNanos = s.lastCheckNanos;
        updateIrqf();
        reprogrammed.run();
    }
}
