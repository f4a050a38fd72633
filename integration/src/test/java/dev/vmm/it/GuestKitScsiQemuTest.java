package dev.vmm.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vmm.it.GuestKit.Format;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The guest kit's {@code scsi} guest (virtio-pci + virtio-scsi driver) under QEMU's
 * virtio-scsi-pci with a scsi-hd disk: the driver and the guest's expectations are known to hold
 * against an independent implementation before they judge our VMM's (GuestKitScsiVmmTest).
 */
class GuestKitScsiQemuTest {
    private static final long MIB = 1 << 20;
    private static GuestKit kit;

    @TempDir Path dir;

    @BeforeAll
    static void requireQemuAndKit() {
        GuestNeeds.qemu();
        kit = GuestNeeds.guestKit();
    }

    private Path image(long mib) throws Exception {
        Path p = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(mib * MIB);
        }
        return p;
    }

    private static Qemu.Result boot(Format format, Path disk, int cpus, int queues, String device, String cmdline)
            throws Exception {
        Qemu.Config c = Qemu.Config.defaults().withMemoryMib(256).withCpus(cpus).withCmdline(cmdline)
                .withExtraArgs("-drive", "file=" + disk + ",if=none,id=d0,format=raw,discard=unmap",
                        "-device", "virtio-scsi-pci,id=scsi0,num_queues=" + queues + ",disable-legacy=on",
                        "-device", "scsi-hd,bus=scsi0.0,drive=d0," + device);
        Qemu.Result r = Qemu.run(kit.image("scsi", format), c);
        assertThat(r.timedOut()).as("timed out: %s", r.describe()).isFalse();
        assertThat(r.guestExitCode()).as("exit port value vs EXIT line: %s", r.describe()).isEqualTo(r.serialExitCode());
        return r;
    }

    private static long allocatedBlocks(Path p) throws Exception {
        Process proc = new ProcessBuilder("stat", "-c", "%b", p.toString()).redirectErrorStream(true).start();
        String out = new String(proc.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertThat(proc.waitFor(10, TimeUnit.SECONDS)).isTrue();
        return Long.parseLong(out);
    }

    @ParameterizedTest
    @EnumSource(Format.class)
    void everyCheckPassesAgainstQemu(Format format) throws Exception {
        Path disk = image(64);
        Qemu.Result r = boot(format, disk, 1, 1, "serial=abc", "serial=abc disk_mib=64");
        assertThat(r.serial())
                .contains("scsi: ok VPD 00h lists 00h 80h 83h B0h B1h B2h", "scsi: ok VPD 80h serial \"abc\"",
                        "scsi: ok READ CAPACITY(10/16): 131072 blocks of 512 bytes",
                        "scsi: ok READ(10) at the capacity: CHECK CONDITION 5/21/00",
                        "scsi: ok unknown opcode 02h: CHECK CONDITION 5/20/00",
                        "scsi: ok UNMAP 4 MiB at LBA 32768: reads back zeroes",
                        "scsi: ok WRITE SAME(16) UNMAP 4 MiB at LBA 40960: reads back zeroes",
                        "scsi: ok LOGICAL UNIT RESET: response 0")
                .contains("scsi: check ok")
                .doesNotContain("FAIL")
                .endsWith("EXIT 0\n");
        assertThat(r.guestExitCode()).hasValue(0);
        assertThat(allocatedBlocks(disk)).as("unmapped ranges are holes").isLessThan(5 * MIB / 512);
    }

    @Test
    void aDiskAtAnotherLun() throws Exception {
        Qemu.Result r = boot(Format.PVH, image(32), 1, 1, "lun=3", "lun=3 disk_mib=32");
        assertThat(r.serial()).contains("LUN 3 among them", "scsi: check ok").doesNotContain("FAIL");
        assertThat(r.guestExitCode()).hasValue(0);
    }

    @Test
    void oneRequestQueuePerVcpu() throws Exception {
        Qemu.Result r = boot(Format.PVH, image(16), 2, 2, "serial=abc", "mode=mq max_mib=1");
        assertThat(r.serial()).contains("scsi: mq: 2 CPUs (madt), 2 request queues set up, using 2",
                "scsi: mq: CPU 1 on request queue 1: LBAs 2048-4095 written and verified", "scsi: mq ok 2 queues 2 MiB");
        assertThat(r.guestExitCode()).hasValue(0);
    }

    @Test
    void randomReadBenchmarkRuns() throws Exception {
        Qemu.Result r = boot(Format.PVH, image(16), 1, 1, "serial=abc", "mode=randread count=2000 qd=32");
        assertThat(r.serial()).containsPattern("scsi: randread bs=4096 qd=32 ops=2000 cycles=\\d+").contains("scsi: randread ok\n");
        assertThat(r.guestExitCode()).hasValue(0);
    }
}
