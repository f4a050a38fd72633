package dev.vmm.config;

import dev.vmm.virtio.rng.RateLimit;
import dev.vmm.virtio.rng.VirtioRng;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ConsoleAndRngOptionsTest {
    @Test
    void parsesPortOptions() {
        assertThat(ConsolePortOptions.parse("name=agent,socket=/run/a.sock"))
                .isEqualTo(new ConsolePortOptions("agent", Path.of("/run/a.sock"), null));
        assertThat(ConsolePortOptions.parse("name=log,file=/tmp/x"))
                .isEqualTo(new ConsolePortOptions("log", null, Path.of("/tmp/x")));
        assertThatThrownBy(() -> ConsolePortOptions.parse("name=x")).hasMessageContaining("exactly one");
        assertThatThrownBy(() -> ConsolePortOptions.parse("socket=/a")).hasMessageContaining("name=");
        assertThatThrownBy(() -> ConsolePortOptions.parse("name=a,tty=/a")).hasMessageContaining("unknown key");
    }

    @Test
    void parsesRngOptions() {
        assertThat(RngOptions.parse("")).isEqualTo(new RngOptions(VirtioRng.DEFAULT_SOURCE, null));
        assertThat(RngOptions.parse("source=/dev/hwrng,rate=1k/500ms"))
                .isEqualTo(new RngOptions(Path.of("/dev/hwrng"), new RateLimit(1024, 500_000_000L)));
        assertThatThrownBy(() -> RngOptions.parse("sauce=x")).hasMessageContaining("unknown key");
    }
}
