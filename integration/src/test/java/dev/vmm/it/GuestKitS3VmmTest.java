package dev.vmm.it;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The kit's {@code s3} guest under the vmm (needs /dev/kvm; a skip fails under VMM_IT_REQUIRE=all):
 * the same checks as {@link GuestKitS3QemuTest}, QEMU's run being the reference. With direct
 * kernel boot the vmm itself puts the boot processor at the FACS waking vector.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class GuestKitS3VmmTest {
    @TempDir
    Path dir;

    @BeforeAll
    static void needsKvm() {
        GuestNeeds.kvmAndGuestKit();
    }

    @Test
    void rtcAlarmWakesTheGuest() throws Exception {
        Vmm.Result r = Vmm.run(S3Guest.TIMEOUT, "run", "--kernel", GuestKit.get().image("s3", GuestKit.Format.PVH).toString(),
                "--cmdline", "wake=rtc");
        assertThat(r.status()).as(r.describe()).isZero();
        assertThat(r.stdout()).contains("s3: entering S3 (SLP_TYP=1, wake by rtc)\n")
                .contains("s3: resumed: WAK_STS=1 RTC_STS=1 memory kept\n").contains("s3: ok\n").contains("EXIT 0\n");
    }

    @Test
    void systemWakeupWakesTheGuest() throws Exception {
        Path sock = dir.resolve("qmp.sock");
        S3Guest.Run r = S3Guest.wakeByQmp(List.of(Vmm.binary().toString(), "run",
                "--kernel", GuestKit.get().image("s3", GuestKit.Format.PVH).toString(), "--cmdline", "wake=qmp",
                "-S", "--qmp", "unix:" + sock), sock, dir.resolve("out.txt"));
        assertThat(r.statusWhileSuspended()).isEqualTo("suspended");
        assertThat(r.events()).containsSubsequence(r.expectedEvents());
        assertThat(r.serial()).contains("s3: resumed: WAK_STS=1 RTC_STS=0 memory kept\n").contains("s3: ok\n").contains("EXIT 0\n");
        assertThat(r.status()).isZero();
    }
}
