package dev.vmm.timer;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.bus.InterruptLine;
import dev.vmm.chipset.timer.Hpet;
import dev.vmm.devices.DeviceRegistry;

import java.util.function.IntFunction;

/**
 * The HPET of the {@code pc} and {@code q35} machines (unless {@code --no-hpet}): the model at
 * 0xFED00000 on the MMIO bus, interrupts on IOAPIC pins by GSI (legacy replacement: timer 0 → GSI 2,
 * where the MADT's IRQ 0 override points, timer 1 → GSI 8), its {@link HpetTimer} thread. The ACPI
 * HPET table and the {@code PNP0103} device come from the recipes' ACPI tables.
 */
public final class PlatformTimers {
    private final Hpet hpet;
    private final HpetTimer timer;

    private PlatformTimers(Hpet hpet, HpetTimer timer) {
        this.hpet = hpet;
        this.timer = timer;
    }

    public static PlatformTimers install(boolean withHpet, Bus mmio, IntFunction<InterruptLine> gsi) {
        return install(withHpet, mmio, gsi, on -> { });
    }

    /** @param pitLegacy told when the guest switches legacy replacement on/off (the PIT stops/restarts IRQ 0: {@link PitLegacy}) */
    public static PlatformTimers install(boolean withHpet, Bus mmio, IntFunction<InterruptLine> gsi, java.util.function.Consumer<Boolean> pitLegacy) {
        if (!withHpet) return new PlatformTimers(null, null);
        Hpet hpet = new Hpet(System::nanoTime, gsi);
        HpetTimer timer = new HpetTimer(hpet, System::nanoTime, pitLegacy);
        mmio.register(Hpet.DEFAULT_BASE, Hpet.SIZE, timer.registers());
        return new PlatformTimers(hpet, timer);
    }

    /** The HPET model, or null with {@code --no-hpet}. */
    public Hpet hpet() { return hpet; }

    /**
     * Stops the timer thread with the machine. The HPET's registers are not in snapshots yet: a
     * machine whose guest has switched the HPET on refuses to be saved; one that never used it
     * (power-on state) loses nothing.
     */
    public void register(DeviceRegistry registry) {
        if (timer == null) return;
        registry.closeLater(timer);
        registry.addPart(new dev.vmm.power.WakeResettable("hpet", timer::reset)); // S3 wake: QEMU resets the HPET
        registry.cannotSaveStateWhile(() -> (hpet.read(Hpet.CONFIG, 8) & Hpet.CFG_ENABLE) != 0 ? "hpet (enabled by the guest)" : null);
    }
}
