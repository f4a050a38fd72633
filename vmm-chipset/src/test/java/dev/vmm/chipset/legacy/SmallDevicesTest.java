package dev.vmm.chipset.legacy;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** DebugExit, Pvpanic and ResetControl. */
class SmallDevicesTest {
    @Test
    void debugExitPassesTheLowByte() {
        List<Integer> codes = new ArrayList<>();
        DebugExit dev = new DebugExit(codes::add);
        dev.write(0, 1, 0x31);
        dev.write(0, 4, 0x1234_5600L | 0xfe);
        assertThat(codes).containsExactly(0x31, 0xfe);
        assertThat(dev.read(0, 4)).isZero();
    }

    @Test
    void pvpanicAdvertisesAndReportsEvents() {
        List<Integer> events = new ArrayList<>();
        Pvpanic dev = new Pvpanic(events::add);
        assertThat(dev.read(0, 1)).isEqualTo(0x03);
        dev.write(0, 1, Pvpanic.PANICKED);
        dev.write(0, 1, Pvpanic.CRASH_LOADED);
        dev.write(0, 1, 0x04); // unsupported (pvpanic SHUTDOWN): dropped
        dev.write(0, 1, 0x00);
        assertThat(events).containsExactly(1, 2);
    }

    @Test
    void resetControlTriggersOnRstCpuRisingEdge() {
        AtomicInteger resets = new AtomicInteger();
        ResetControl rcr = new ResetControl(resets::incrementAndGet);
        rcr.write(0, 1, 0x02); // Linux: select hard reset first
        assertThat(resets).hasValue(0);
        assertThat(rcr.read(0, 1)).isEqualTo(0x02);
        rcr.write(0, 1, 0x06);
        assertThat(resets).hasValue(1);
        assertThat(rcr.read(0, 1)).isEqualTo(0x02);
        rcr.write(0, 1, 0x0e);
        assertThat(resets).hasValue(2);
        assertThat(rcr.read(0, 1)).isEqualTo(0x0a);
        rcr.write(0, 1, 0x00);
        rcr.write(0, 1, 0x08);
        assertThat(resets).hasValue(2);
        rcr.reset();
        assertThat(rcr.read(0, 1)).isZero();
    }
}
