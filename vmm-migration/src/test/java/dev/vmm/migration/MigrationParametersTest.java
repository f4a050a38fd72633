package dev.vmm.migration;

import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** cpu-throttle-tailslow and the all-or-nothing migrate-set-parameters (QEMU's behaviour is checked in QemuThrottleParametersTest). */
class MigrationParametersTest {
    @Test
    void tailslowIsABooleanOffByDefault() {
        MigrationParameters p = new MigrationParameters();
        assertThat(p.cpuThrottleTailslow()).isFalse();
        assertThat(p.toMap()).containsEntry("cpu-throttle-tailslow", false);
        assertThat(p.set("cpu-throttle-tailslow", true).cpuThrottleTailslow()).isTrue();
        assertThat(p.toMap()).containsEntry("cpu-throttle-tailslow", true);
        assertThat(p.set("cpu-throttle-tailslow", "false").cpuThrottleTailslow()).isFalse();
        assertThatThrownBy(() -> p.set("cpu-throttle-tailslow", 1)).hasMessage("Parameter 'cpu-throttle-tailslow' expects a boolean");
        assertThatThrownBy(() -> p.set("cpu-throttle-tailslow", "yes")).hasMessage("Parameter 'cpu-throttle-tailslow' expects a boolean");
        assertThatThrownBy(() -> p.set("max-cpu-throttle", true)).hasMessage("Parameter 'max-cpu-throttle' expects an integer");
        assertThatThrownBy(() -> p.set("x-dirty-log-verify", true)).hasMessageContaining("auto, on or off");
        assertThatThrownBy(() -> p.set("postcopy-bytes", true)).hasMessage("Parameter 'postcopy-bytes' is unexpected");
        assertThat(p.cpuThrottleTailslow()).isFalse();
    }

    @Test
    void severalValuesAreSetAllOrNothing() {
        MigrationParameters p = new MigrationParameters();
        Map<String, Object> bad = new LinkedHashMap<>();
        bad.put("max-bandwidth", 1000L);
        bad.put("x-dirty-log-verify", "on");
        bad.put("cpu-throttle-tailslow", true);
        bad.put("downtime-limit", -5L);
        assertThatThrownBy(() -> p.set(bad)).hasMessageContaining("'downtime-limit'");
        assertThat(p.toMap()).isEqualTo(new MigrationParameters().toMap());

        bad.put("downtime-limit", 50L);
        p.set(bad);
        assertThat(p.maxBandwidth()).isEqualTo(1000);
        assertThat(p.dirtyLogVerify()).isEqualTo(MigrationParameters.VerifyMode.ON);
        assertThat(p.cpuThrottleTailslow()).isTrue();
        assertThat(p.downtimeLimitMs()).isEqualTo(50);
    }

    @Test
    void maxCpuThrottleMayNotFallBelowTheInitialThrottle() {
        MigrationParameters p = new MigrationParameters().set("max-cpu-throttle", 50);
        assertThatThrownBy(() -> p.set("cpu-throttle-initial", 60))
                .hasMessage("Parameter 'max-cpu-throttle' expects a value between cpu-throttle-initial (60) and 99");
        assertThat(p.cpuThrottleInitial()).isEqualTo(20);
        Map<String, Object> both = new LinkedHashMap<>();
        both.put("cpu-throttle-initial", 60);
        both.put("max-cpu-throttle", 60);
        p.set(both);
        assertThat(p.cpuThrottleInitial()).isEqualTo(60);
        assertThat(p.maxCpuThrottle()).isEqualTo(60);
    }
}
