package dev.vmm.vcpu;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class VcpuThrottleTest {
    @Test
    void theVcpusSleepTheGivenShareOfEachPeriod() {
        for (int p : new int[] {1, 20, 50, 75, 99}) {
            VcpuThrottle.Schedule s = VcpuThrottle.Schedule.of(p);
            assertThat(s.periodNanos() - s.sleepNanos()).as("a 10 ms time slice runs").isEqualTo(VcpuThrottle.TIMESLICE_NANOS);
            assertThat((double) s.sleepNanos() / s.periodNanos()).as("%d%% asleep", p).isCloseTo(p / 100.0,
                    org.assertj.core.data.Offset.offset(1e-6));
        }
        assertThat(VcpuThrottle.Schedule.of(50).sleepNanos()).isEqualTo(VcpuThrottle.TIMESLICE_NANOS);
        assertThat(VcpuThrottle.Schedule.of(99).sleepNanos()).isEqualTo(99 * VcpuThrottle.TIMESLICE_NANOS);
    }

    @Test
    void outOfRangeSharesAreRefused() {
        assertThatThrownBy(() -> VcpuThrottle.Schedule.of(0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> VcpuThrottle.Schedule.of(100)).isInstanceOf(IllegalArgumentException.class);
        try (VcpuThrottle t = new VcpuThrottle(java.util.List.of())) {
            assertThatThrownBy(() -> t.set(100)).isInstanceOf(IllegalArgumentException.class);
            assertThat(t.percent()).isZero();
            t.set(30);
            assertThat(t.percent()).isEqualTo(30);
            t.set(0);
            assertThat(t.percent()).isZero();
        }
    }
}
