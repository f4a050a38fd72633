package dev.vmm.it;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The kit's {@code s3} guest under QEMU 7.2 with TCG (runs without /dev/kvm): the reference for
 * {@link GuestKitS3VmmTest}. The guest enters S3 through SLP_TYP of its DSDT's \_S3; SeaBIOS
 * resumes it through the FACS waking vector after QEMU's wake reset. Woken by the RTC alarm it armed
 * (RTC_EN: WAK_STS and RTC_STS on resume) and by QMP {@code system_wakeup} (WAK_STS only).
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class GuestKitS3QemuTest {
    @TempDir
    Path dir;

    @BeforeAll
    static void requireQemuAndKit() {
        GuestNeeds.qemu();
        GuestNeeds.guestKit();
    }

    @Test
    void rtcAlarmWakesTheGuest() throws Exception {
        Qemu.Result r = Qemu.run(GuestKit.get().image("s3", GuestKit.Format.PVH),
                Qemu.Config.defaults().withAccel("tcg").withCmdline("wake=rtc").withTimeout(S3Guest.TIMEOUT));
        assertThat(r.timedOut()).as(r.describe()).isFalse();
        assertThat(r.serial()).as(r.describe())
                .contains("s3: entering S3 (SLP_TYP=1, wake by rtc)\n")
                .contains("s3: resumed: WAK_STS=1 RTC_STS=1 memory kept\n")
                .contains("s3: ok\n").endsWith("EXIT 0\n");
        assertThat(r.guestExitCode()).hasValue(0);
    }

    @Test
    void systemWakeupWakesTheGuest() throws Exception {
        Path sock = dir.resolve("qmp.sock"), serial = dir.resolve("serial.txt");
        List<String> cmd = new ArrayList<>(Qemu.command(Qemu.find().orElseThrow(), GuestKit.get().image("s3", GuestKit.Format.PVH),
                Qemu.Config.defaults().withAccel("tcg").withCmdline("wake=qmp"), dir.resolve("unused")));
        // COM1 to the process output (collected by S3Guest), QMP on a socket.
        cmd.set(cmd.indexOf("-serial") + 1, "stdio");
        cmd.addAll(List.of("-S", "-qmp", "unix:" + sock + ",server=on,wait=off"));
        S3Guest.Run r = S3Guest.wakeByQmp(cmd, sock, serial);
        assertThat(r.statusWhileSuspended()).isEqualTo("suspended");
        assertThat(r.events()).containsSubsequence(r.expectedEvents());
        assertThat(r.serial()).contains("s3: entering S3 (SLP_TYP=1, wake by qmp)\n")
                .contains("s3: resumed: WAK_STS=1 RTC_STS=0 memory kept\n").contains("s3: ok\n").contains("EXIT 0\n");
        assertThat(r.status()).as("isa-debug-exit status (0 << 1) | 1").isEqualTo(1);
    }
}
