package dev.vmm.chipset.legacy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.bus.InterruptLine;
import dev.vmm.chipset.testing.RecordingLine;
import java.io.ByteArrayOutputStream;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The devices at their PC ports on one PIO bus, wired the way docs/chipset.md tells the VMM to. */
class PcPortsWiringTest {
    @Test
    void legacyDevicesCoexistOnThePioBus() {
        Bus pio = new Bus("pio");
        RecordingLine irq4 = new RecordingLine();
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        AtomicInteger resets = new AtomicInteger();
        List<Integer> exits = new ArrayList<>();
        List<Integer> panics = new ArrayList<>();

        Uart16550 com1 = new Uart16550(irq4, b -> console.write(b));
        pio.register(0x3f8, Uart16550.SIZE, com1);
        pio.register(I8042.BASE, I8042.SIZE, new I8042(InterruptLine.none(), InterruptLine.none(), resets::incrementAndGet));
        pio.register(CmosRtc.BASE, CmosRtc.SIZE, new CmosRtc(Clock.systemUTC(), InterruptLine.none(), 1L << 30, 0));
        pio.register(DebugExit.DEFAULT_PORT, DebugExit.SIZE, new DebugExit(exits::add));
        pio.register(Pvpanic.DEFAULT_PORT, Pvpanic.SIZE, new Pvpanic(panics::add));
        pio.register(ResetControl.PORT, ResetControl.SIZE, new ResetControl(resets::incrementAndGet));

        // Console output through the bus.
        pio.write(0x3fb, 1, 0x03);
        for (byte b : "ok".getBytes()) {
            assertThat(pio.read(0x3fd, 1) & 0x20).isNotZero();
            pio.write(0x3f8, 1, b);
        }
        assertThat(console.toString()).isEqualTo("ok");
        // Interrupt-driven transmit: OUT2 + ETBEI raises IRQ 4.
        pio.write(0x3fc, 1, 0x0b);
        pio.write(0x3f9, 1, 0x02);
        assertThat(irq4.level()).isTrue();

        // COM2 is absent: a probing guest reads all ones.
        assertThat(pio.read(0x2fd, 1)).isEqualTo(0xff);

        assertThat(pio.read(0x64, 1) & 0x10).isNotZero();
        pio.write(0x64, 1, 0xfe);
        pio.write(0xcf9, 1, 0x06);
        assertThat(resets).hasValue(2);

        pio.write(0x70, 1, 0x0d);
        assertThat(pio.read(0x71, 1)).isEqualTo(0x80);

        assertThat(pio.read(0x505, 1)).isEqualTo(3);
        pio.write(0x505, 1, 1);
        assertThat(panics).containsExactly(1);

        pio.write(0xf4, 4, 0x10);
        assertThat(exits).containsExactly(0x10);
    }
}
