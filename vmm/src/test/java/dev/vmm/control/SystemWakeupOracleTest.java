package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.lifecycle.Lifecycle;
import dev.vmm.power.GuestSleep;
import dev.vmm.power.PowerCommands;
import dev.vmm.power.WakeEntry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code system_wakeup} outside S3 against QEMU 7.2 run at test time (pc, TCG, -S: not suspended). */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SystemWakeupOracleTest {
    @TempDir
    Path dir;

    @Test
    void notSuspendedIsRefusedAsByQemu() throws Exception {
        GuestSleep sleep = new GuestSleep(new Lifecycle(), new GuestSleep.Platform() {
            @Override public void parkVcpus() { }
            @Override public WakeEntry wakeEntry() { throw new AssertionError("not suspended"); }
            @Override public void wakeStatus(boolean byRtc) { }
            @Override public void resumeAt(WakeEntry entry) { }
            @Override public void resetInstead(String why) { }
        });
        try (QmpPair pair = new QmpPair(dir, List.of("-machine", "pc,accel=tcg", "-S"), s -> PowerCommands.install(s, sleep))) {
            QmpPair.Client qemu = pair.qemu.negotiated(), ours = pair.ours.negotiated();
            for (String line : List.of("{\"execute\": \"system_wakeup\"}", "{\"execute\": \"system_wakeup\", \"arguments\": {\"x\": 1}}")) {
                JsonNode q = qemu.send(line), o = ours.send(line);
                assertThat(o).as(line).isEqualTo(q);
                assertThat(o.has("error")).isTrue();
            }
        }
    }
}
