package dev.vmm.chipset.acpi;

import dev.vmm.chipset.bus.BusDevice;
import dev.vmm.chipset.bus.InterruptLine;
import java.util.Objects;
import java.util.function.LongSupplier;

/**
 * The ACPI fixed-hardware power-management registers (ACPI 6.x section 4.8), as one I/O block:
 *
 * <pre>
 *  offset 0  PM1a_STS  16 bit  status, write 1 to clear
 *  offset 2  PM1a_EN   16 bit  enable
 *  offset 4  PM1a_CNT  16 bit  control: SCI_EN, SLP_TYPx, SLP_EN
 *  offset 6  -          2 bytes reserved (read 0)
 *  offset 8  PM_TMR    32 bit  3.579545 MHz free-running counter (read only)
 * </pre>
 *
 * {@link AcpiTables} describes exactly this layout in the FADT (PM1a_EVT_BLK = base, PM1a_CNT_BLK
 * = base + 4, PM_TMR_BLK = base + 8), so the two must be given the same base.
 *
 * <p>There is no SMI command port, so the machine is always in ACPI mode and SCI_EN reads 1. The
 * SCI (a level-triggered, active-high ISA interrupt, IRQ 9 by default) is asserted while an enabled
 * status bit is set. Writing SLP_EN with SLP_TYPx = {@link #SLP_TYP_S5} (the value the DSDT's
 * {@code \_S5} package names) requests power-off; other sleep types are not advertised and ignored.
 *
 * <p>Modelled status bits: PWRBTN_STS (set by {@link #pressPowerButton()}) and TMR_STS (bit 31 of
 * the counter changed since the bit was last cleared). TMR_STS is computed when read; with no
 * thread of its own the device cannot raise an SCI at the moment the counter's top bit flips, so
 * TMR_EN only takes effect at the next register access. Linux never enables it.
 */
public final class AcpiPm implements BusDevice {
    public static final int DEFAULT_BASE = 0x600;
    public static final int SIZE = 12;
    public static final int EVT_OFFSET = 0, CNT_OFFSET = 4, TMR_OFFSET = 8;
    /** FADT PM1_EVT_LEN, PM1_CNT_LEN, PM_TMR_LEN. */
    public static final int PM1_EVT_LEN = 4, PM1_CNT_LEN = 2, PM_TMR_LEN = 4;
    /** The SLP_TYPx value for soft-off; {@code \_S5} in the DSDT carries it. */
    public static final int SLP_TYP_S5 = 5;
    /** SLP_TYPx for suspend to RAM ({@code \_S3}) and to disk ({@code \_S4}): reported to {@link #onSleep}. */
    public static final int SLP_TYP_S3 = 1, SLP_TYP_S4 = 2;
    public static final long TIMER_HZ = 3_579_545;
    public static final int DEFAULT_SCI_IRQ = 9;

    // PM1 status / enable bits.
    public static final int TMR_STS = 1, GBL_STS = 1 << 5, PWRBTN_STS = 1 << 8, SLPBTN_STS = 1 << 9,
            RTC_STS = 1 << 10, WAK_STS = 1 << 15;
    /** PM1_EN's RTC_EN: the RTC alarm may wake the machine from a sleep state. */
    public static final int RTC_EN = 1 << 10;
    static final int STATUS_MODELLED = TMR_STS | PWRBTN_STS | RTC_STS | WAK_STS;
    /** TMR_EN, GBL_EN, PWRBTN_EN, SLPBTN_EN, RTC_EN, PCIEXP_WAKE_DIS: stored as written. */
    static final int ENABLE_WRITABLE = 1 | 1 << 5 | 1 << 8 | 1 << 9 | 1 << 10 | 1 << 14;
    /** Status bits that can raise the SCI. */
    static final int SCI_SOURCES = TMR_STS | PWRBTN_STS;
    // PM1 control bits.
    public static final int SCI_EN = 1, SLP_TYP_SHIFT = 10, SLP_TYP_MASK = 7 << SLP_TYP_SHIFT, SLP_EN = 1 << 13;
    /** BM_RLD (bit 1) and SLP_TYPx are stored; GBL_RLS (bit 2) and SLP_EN are write-only. */
    static final int CONTROL_STORED = 1 << 1 | SLP_TYP_MASK;

    private final InterruptLine sci;
    private final Runnable powerOff;
    private final LongSupplier nanoClock;
    private volatile java.util.function.IntConsumer sleep = t -> { };

    private int status;
    private int enable;
    private int control;
    private long timerOrigin;      // clock value (ns) at which the counter read 0
    private long tmrStsClearTicks; // counter ticks (unwrapped) when TMR_STS was last cleared
    private boolean sciLevel;

    /**
     * @param sci       the SCI's interrupt line (GSI of the FADT's SCI_INT), driven as a level
     * @param powerOff  called when the guest enters S5; runs on the vCPU thread: set a flag, return
     * @param nanoClock monotonic nanoseconds for the PM timer ({@code System::nanoTime})
     */
    public AcpiPm(InterruptLine sci, Runnable powerOff, LongSupplier nanoClock) {
        this.sci = Objects.requireNonNull(sci, "sci");
        this.powerOff = Objects.requireNonNull(powerOff, "powerOff");
        this.nanoClock = Objects.requireNonNull(nanoClock, "nanoClock");
        reset();
    }

    public AcpiPm(InterruptLine sci, Runnable powerOff) {
        this(sci, powerOff, System::nanoTime);
    }

    /** Power-on state: the timer restarts at 0, then the registers' reset ({@link #resetRegisters}). */
    public synchronized void reset() {
        timerOrigin = nanoClock.getAsLong();
        tmrStsClearTicks = 0;
        resetRegisters();
    }

    /**
     * The registers' reset without the timer's: PM1 status, enable and control (SLP_TYP) cleared,
     * what an S3 wake does before WAK_STS is set (SCI_EN reads 1 here whatever is written). The PM
     * timer runs on through S3, as on a PC.
     */
    public synchronized void resetRegisters() {
        status = 0;
        enable = 0;
        control = 0;
        updateSci();
    }

    /** A press of the fixed-feature power button: sets PWRBTN_STS (an SCI if PWRBTN_EN). */
    public synchronized void pressPowerButton() {
        status |= PWRBTN_STS;
        updateSci();
    }

    /**
     * Receives {@link #SLP_TYP_S3} or {@link #SLP_TYP_S4} when the guest sets SLP_EN with that
     * sleep type (on the vCPU thread, after the device lock is released: park the vCPUs elsewhere).
     * Without a listener these are ignored, as before sleep states were offered.
     */
    public void onSleep(java.util.function.IntConsumer listener) {
        this.sleep = Objects.requireNonNull(listener, "listener");
    }

    /**
     * The machine wakes from S3: WAK_STS set (the OS looks for it on resume), and RTC_STS too when
     * the RTC alarm woke it. SLP_TYPx is left as written (the OS rewrites it).
     */
    public synchronized void wake(boolean byRtc) {
        status |= WAK_STS | (byRtc ? RTC_STS : 0);
        updateSci();
    }

    /** Whether the guest enabled the RTC alarm as a wake event (RTC_EN in PM1_EN). */
    public synchronized boolean rtcWakeEnabled() {
        return (enable & RTC_EN) != 0;
    }

    /** The PM timer's current 32-bit value. */
    public synchronized long timerValue() {
        return ticks() & 0xffff_ffffL;
    }

    @Override
    public long read(long offset, int size) {
        if (offset < 0 || size < 1 || size > 8 || offset + size > SIZE) return 0;
        long v = 0;
        synchronized (this) {
            long ticks = ticks();
            int sts = status | (tmrStsSet(ticks) ? TMR_STS : 0);
            for (int i = size - 1; i >= 0; i--) v = (v << 8) | byteAt((int) offset + i, sts, ticks);
            updateSci();
        }
        return v;
    }

    private int byteAt(int off, int sts, long ticks) {
        return switch (off) {
            case 0 -> sts & 0xff;
            case 1 -> sts >> 8 & 0xff;
            case 2 -> enable & 0xff;
            case 3 -> enable >> 8 & 0xff;
            case 4 -> (control | SCI_EN) & 0xff;
            case 5 -> (control | SCI_EN) >> 8 & 0xff;
            case 8, 9, 10, 11 -> (int) (ticks >>> (8 * (off - 8))) & 0xff;
            default -> 0;
        };
    }

    @Override
    public void write(long offset, int size, long value) {
        if (offset < 0 || size < 1 || size > 8 || offset + size > SIZE) return;
        // Place the written bytes in the 8 bytes of 16-bit registers; the timer is read only.
        long data = 0, mask = 0;
        for (int i = 0; i < size; i++) {
            int off = (int) offset + i;
            if (off >= 8) break;
            data |= ((value >>> (8 * i)) & 0xff) << (8 * off);
            mask |= 0xffL << (8 * off);
        }
        int sleepType;
        synchronized (this) {
            int m = (int) (mask & 0xffff), v = (int) (data & 0xffff);
            if (m != 0) writeStatus(v & m);
            m = (int) (mask >>> 16 & 0xffff);
            v = (int) (data >>> 16 & 0xffff);
            if (m != 0) enable = (enable & ~m) | (v & m & ENABLE_WRITABLE);
            m = (int) (mask >>> 32 & 0xffff);
            v = (int) (data >>> 32 & 0xffff);
            sleepType = m != 0 ? writeControl(v, m) : -1;
            updateSci();
        }
        if (sleepType == SLP_TYP_S5) powerOff.run();
        else if (sleepType == SLP_TYP_S3 || sleepType == SLP_TYP_S4) sleep.accept(sleepType);
    }

    private void writeStatus(int ones) {
        if ((ones & TMR_STS) != 0) tmrStsClearTicks = ticks();
        status &= ~(ones & STATUS_MODELLED);
    }

    /** Returns the sleep type entered by this write (SLP_EN set), or -1. */
    private int writeControl(int v, int m) {
        control = (control & ~(m & CONTROL_STORED)) | (v & m & CONTROL_STORED);
        return (v & m & SLP_EN) != 0 ? (control & SLP_TYP_MASK) >> SLP_TYP_SHIFT : -1;
    }

    private long ticks() {
        long ns = nanoClock.getAsLong() - timerOrigin;
        if (ns < 0) ns = 0;
        // ns * 3579545 / 1e9 without overflowing for any uptime.
        return (ns / 1_000_000_000L) * TIMER_HZ + (ns % 1_000_000_000L) * TIMER_HZ / 1_000_000_000L;
    }

    private boolean tmrStsSet(long ticks) {
        return (ticks >>> 31) != (tmrStsClearTicks >>> 31);
    }

    private void updateSci() {
        int sts = status | (tmrStsSet(ticks()) ? TMR_STS : 0);
        boolean level = (sts & enable & SCI_SOURCES) != 0;
        if (level != sciLevel) {
            sciLevel = level;
            sci.set(level);
        }
    }

    // ---- snapshot ----

    /** Register state; {@code timer} is the counter's unwrapped tick count at the snapshot. */
    public record State(int status, int enable, int control, long timer, long tmrStsClearTicks) { }

    public synchronized State state() {
        return new State(status, enable, control, ticks(), tmrStsClearTicks);
    }

    /** Restores a snapshot; the timer continues from the saved value and the SCI is re-driven. */
    public synchronized void restore(State s) {
        status = s.status() & STATUS_MODELLED;
        enable = s.enable() & ENABLE_WRITABLE;
        control = s.control() & CONTROL_STORED;
        long ns = (s.timer() / TIMER_HZ) * 1_000_000_000L + (s.timer() % TIMER_HZ) * 1_000_000_000L / TIMER_HZ;
        timerOrigin = nanoClock.getAsLong() - ns;
        tmrStsClearTicks = s.tmrStsClearTicks();
        sciLevel = ((status | (tmrStsSet(ticks()) ? TMR_STS : 0)) & enable & SCI_SOURCES) != 0;
        sci.set(sciLevel); // always drive: the line's previous owner may have left it anywhere
    }
}
