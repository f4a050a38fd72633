package dev.vmm.machine;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.bus.BusDevice;
import dev.vmm.chipset.bus.InterruptLine;
import dev.vmm.chipset.legacy.CmosRtc;
import dev.vmm.chipset.legacy.DebugExit;
import dev.vmm.chipset.legacy.I8042;
import dev.vmm.chipset.legacy.Pvpanic;
import dev.vmm.chipset.legacy.Uart16550;
import dev.vmm.vcpu.VmExit;

import java.util.function.Consumer;
import java.util.function.IntFunction;

/**
 * The ISA devices every PC recipe has ({@code pc} and {@code q35}): COM1, the i8042 (keyboard
 * controller reset), the CMOS/RTC, the debug-exit and ISA pvpanic ports and the POST port. The ACPI
 * PM block is not here: where it decodes is the chipset's (fixed on pc, the LPC's PMBASE on q35).
 */
record LegacyPcDevices(Uart16550 com1, I8042 i8042, CmosRtc cmos, Runnable reset, Runnable powerOff) {
    static final int COM1_PORT = 0x3f8, COM1_IRQ = 4, POST_PORT = 0x80, I8042_KBD_IRQ = 1, I8042_AUX_IRQ = 12, RTC_IRQ = 8;

    /** Registers the devices on {@code pio}; {@code ramBelow4g} is what the CMOS reports as low memory. */
    static LegacyPcDevices install(Bus pio, IntFunction<InterruptLine> isaIrq, MachineConfig cfg, long ramBelow4g,
                                   ConsoleOutput console, Consumer<VmExit> exits) {
        return install(pio, isaIrq, cfg.memoryBytes(), ramBelow4g, console, exits);
    }

    /** The same for a machine of {@code memoryBytes} of RAM (without a whole configuration: {@link ExitReplay}). */
    static LegacyPcDevices install(Bus pio, IntFunction<InterruptLine> isaIrq, long memoryBytes, long ramBelow4g,
                                   ConsoleOutput console, Consumer<VmExit> exits) {
        Uart16550 com1 = new Uart16550(isaIrq.apply(COM1_IRQ), console);
        pio.register(COM1_PORT, Uart16550.SIZE, com1);
        Runnable reset = () -> exits.accept(new VmExit(VmExit.Kind.RESET, 0, "guest requested a reset", null));
        Runnable powerOff = () -> exits.accept(new VmExit(VmExit.Kind.POWER_OFF, 0, "guest powered off (ACPI S5)", null));
        I8042 i8042 = new I8042(isaIrq.apply(I8042_KBD_IRQ), isaIrq.apply(I8042_AUX_IRQ), reset);
        pio.register(I8042.BASE, I8042.SIZE, i8042);
        CmosRtc cmos = new CmosRtc(java.time.Clock.systemUTC(), isaIrq.apply(RTC_IRQ), ramBelow4g, memoryBytes - ramBelow4g);
        pio.register(CmosRtc.BASE, CmosRtc.SIZE, cmos);
        pio.register(DebugExit.DEFAULT_PORT, DebugExit.SIZE, new DebugExit(v -> exits.accept(VmExit.guestExit(v))));
        pio.register(Pvpanic.DEFAULT_PORT, Pvpanic.SIZE, new Pvpanic(ev -> exits.accept(VmExit.pvpanic("pvpanic", ev))));
        pio.register(POST_PORT, 1, NULL_DEVICE);
        return new LegacyPcDevices(com1, i8042, cmos, reset, powerOff);
    }

    /** Swallows writes and reads as zero (the POST diagnostic port, and other ports guests poke for delays). */
    static final BusDevice NULL_DEVICE = new BusDevice() {
        @Override public long read(long offset, int size) { return 0; }
        @Override public void write(long offset, int size, long value) { }
    };
}
