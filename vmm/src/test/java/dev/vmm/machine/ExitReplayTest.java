package dev.vmm.machine;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;

/** Replayed exits reach the real PC port devices through the vCPU's dispatcher. */
class ExitReplayTest {
    @Test
    void serialBytesReachTheConsoleAndCmosReportsTheMemorySize() {
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        int low, high;
        try (ExitReplay replay = new ExitReplay(console)) {
            replay.mix(3);
            for (byte b : "ok".getBytes(StandardCharsets.US_ASCII)) replay.serialByte(b);
            // CMOS 0x34/0x35: RAM between 16 MiB and 4 GiB in 64 KiB units (256 MiB machine).
            low = replay.cmosRead(0x34);
            high = replay.cmosRead(0x35);
        }
        assertThat(console.toString(StandardCharsets.US_ASCII)).isEqualTo("abcok");
        assertThat((high << 8) | low).isEqualTo((int) (((256L << 20) - (16L << 20)) >> 16));
    }
}
