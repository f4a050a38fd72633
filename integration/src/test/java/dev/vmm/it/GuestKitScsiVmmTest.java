package dev.vmm.it;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * virtio-scsi through the real binary, driven by the guest kit's freestanding virtio-scsi driver
 * (guests/scsi.c; the same guest passes under QEMU, GuestKitScsiQemuTest): every command of the
 * SCSI target with its data and sense, UNMAP / WRITE SAME UNMAP reaching the host file as holes,
 * task management, a LUN per disk, one request queue per vCPU, image formats and read-only disks.
 */
class GuestKitScsiVmmTest {
    private static final Duration T = Duration.ofSeconds(300);
    private static final long MIB = 1 << 20;

    @BeforeAll
    static void needsKvm() {
        GuestNeeds.kvmAndGuestKit();
    }

    static Path rawDisk(Path dir, String name, long bytes) throws Exception {
        Path p = dir.resolve(name);
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(bytes);
        }
        return p;
    }

    static Vmm.Result boot(String cmdline, String... extra) throws Exception {
        List<String> args = new ArrayList<>(List.of("run", "--kernel",
                GuestKit.get().image("scsi", GuestKit.Format.PVH).toString(), "--cmdline", cmdline));
        args.addAll(List.of(extra));
        return Vmm.run(T, args);
    }

    static long allocatedBlocks(Path p) throws Exception {
        Process pr = new ProcessBuilder("stat", "-c", "%b", p.toString()).start();
        String out = new String(pr.getInputStream().readAllBytes()).strip();
        pr.waitFor();
        return Long.parseLong(out);
    }

    @Test
    void everyCommandAnswersWithTheRightDataAndSense(@TempDir Path dir) throws Exception {
        Path disk = rawDisk(dir, "d.img", 64 * MIB);
        // exact=1: our target reports exact residuals and supports SYNCHRONIZE CACHE(16) (QEMU does neither).
        Vmm.Result r = boot("serial=test-serial-7 disk_mib=64 exact=1", "--scsi", "disk=" + disk + ",serial=test-serial-7");
        assertThat(r.status()).as(r.describe()).isZero();
        assertThat(r.stdout())
                .contains("scsi: ok TEST UNIT READY at start",
                        "scsi: ok INQUIRY standard: type 0, SPC version 6, \"VMM     VIRTUAL DISK    0001\"",
                        "scsi: ok INQUIRY EVPD=0 with page code 80h: CHECK CONDITION 5/24/00",
                        "scsi: ok VPD 00h lists 00h 80h 83h B0h B1h B2h",
                        "scsi: ok VPD 80h serial \"test-serial-7\"",
                        "scsi: ok VPD B2h: LBPU LBPWS LBPWS10",
                        "scsi: ok REQUEST SENSE: fixed format, NO SENSE",
                        "scsi: ok READ CAPACITY(10/16): 131072 blocks of 512 bytes",
                        "scsi: ok MODE SENSE(6) caching page: WCE 1",
                        "scsi: ok REPORT LUNS: 1 LUN, LUN 0 among them",
                        "scsi: ok INQUIRY on absent LUN 200: peripheral 7Fh",
                        "scsi: ok INQUIRY to target 1: BAD_TARGET",
                        "scsi: ok START STOP UNIT start",
                        "scsi: ok WRITE(6) + READ(6): 8 blocks", "scsi: ok WRITE(10) + READ(10): 17 blocks",
                        "scsi: ok WRITE(12) + READ(12): 26 blocks", "scsi: ok WRITE(16) + READ(16): 35 blocks",
                        "scsi: ok WRITE(6) + READ(6): 256 blocks",
                        "scsi: ok SYNCHRONIZE CACHE(10/16)",
                        "scsi: ok READ(10) at the capacity: CHECK CONDITION 5/21/00",
                        "scsi: ok WRITE(16) at LBA 2^64-1: CHECK CONDITION 5/21/00",
                        "scsi: ok unknown opcode 02h: CHECK CONDITION 5/20/00",
                        "scsi: ok UNMAP 4 MiB at LBA 32768: reads back zeroes",
                        "scsi: ok WRITE SAME(16) UNMAP 4 MiB at LBA 40960: reads back zeroes",
                        "scsi: ok WRITE SAME(10) UNMAP 2 MiB at LBA 49152: zeroes, the next 2 MiB kept",
                        "scsi: ok WRITE SAME(16) of one block over 64 blocks",
                        "scsi: ok ABORT TASK of a READ in flight",
                        "scsi: ok LOGICAL UNIT RESET: response 0",
                        "scsi: ok CLEAR ACA: response 11",
                        "scsi: ok LOGICAL UNIT RESET on target 1: response 3")
                .contains("scsi: check ok")
                .doesNotContain("FAIL");
        // 14 MiB were written, 10 of them unmapped again: the host file has holes there (st_blocks in
        // 512-byte units; what stays is ~3.3 MiB of read/write tests and the kept half of region C).
        long blocks = allocatedBlocks(disk);
        assertThat(blocks).as("allocated 512-byte blocks").isGreaterThan(2 * MIB / 512).isLessThan(5 * MIB / 512);
    }

    @Test
    void aLunPerDiskAndTheSecondOneWorks(@TempDir Path dir) throws Exception {
        Path first = rawDisk(dir, "a.img", 8 * MIB);
        Path second = rawDisk(dir, "b.img", 32 * MIB);
        Vmm.Result r = boot("lun=1 serial=second disk_mib=32 exact=1",
                "--scsi", "disk=" + first, "--scsi", "disk=" + second + ",serial=second");
        assertThat(r.status()).as(r.describe()).isZero();
        assertThat(r.stdout()).contains("max_lun 1", "scsi: ok REPORT LUNS: 2 LUNs, LUN 1 among them",
                "scsi: ok VPD 80h serial \"second\"", "scsi: check ok");
        assertThat(allocatedBlocks(first)).as("LUN 0 untouched").isZero();
        assertThat(allocatedBlocks(second)).isGreaterThan(0);
    }

    @Test
    void oneRequestQueuePerVcpu(@TempDir Path dir) throws Exception {
        Path disk = rawDisk(dir, "d.img", 16 * MIB);
        // Default: as many request queues as vCPUs.
        Vmm.Result r = boot("mode=mq max_mib=1", "--cpus", "2", "--scsi", "disk=" + disk);
        assertThat(r.status()).as(r.describe()).isZero();
        assertThat(r.stdout()).contains("num_queues 2 (2 set up)",
                "scsi: mq: CPU 0 on request queue 0: LBAs 0-2047 written and verified",
                "scsi: mq: CPU 1 on request queue 1: LBAs 2048-4095 written and verified",
                "scsi: mq ok 2 queues 2 MiB");
    }

    @Test
    void qcow2DiskPassesTheChecksAndStaysConsistent(@TempDir Path dir) throws Exception {
        Path disk = dir.resolve("d.qcow2");
        Vmm.Result c = Vmm.run(T, "img", "create", "-f", "qcow2", disk.toString(), "64M");
        assertThat(c.status()).as(c.describe()).isZero();
        Vmm.Result r = boot("disk_mib=64 exact=1", "--scsi", "disk=" + disk + ",format=qcow2");
        assertThat(r.status()).as(r.describe()).isZero();
        assertThat(r.stdout()).contains("scsi: check ok").doesNotContain("FAIL");
        Vmm.Result check = Vmm.run(T, "img", "check", disk.toString());
        assertThat(check.status()).as(check.describe()).isZero();
        if (Files.isExecutable(Path.of("/usr/bin/qemu-img"))) {
            Process q = new ProcessBuilder("qemu-img", "check", disk.toString()).redirectErrorStream(true).start();
            String out = new String(q.getInputStream().readAllBytes());
            assertThat(q.waitFor()).as(out).isZero();
        }
    }

    @Test
    void readOnlyDiskRefusesWritesWithDataProtect(@TempDir Path dir) throws Exception {
        Path disk = rawDisk(dir, "d.img", 64 * MIB);
        Vmm.Result r = boot("disk_mib=64", "--scsi", "disk=" + disk + ",readonly=on");
        assertThat(r.status()).as(r.describe()).isEqualTo(1);
        assertThat(r.stdout()).contains("scsi: FAIL: MODE SENSE: the disk says it is write-protected",
                "sense 7/27/00"); // DATA PROTECT, WRITE PROTECTED
        assertThat(allocatedBlocks(disk)).isZero();
    }

    @Test
    void randomReadBenchmarkRuns(@TempDir Path dir) throws Exception {
        Path disk = rawDisk(dir, "d.img", 16 * MIB);
        Vmm.Result r = boot("mode=randread count=2000 qd=32", "--scsi", "disk=" + disk);
        assertThat(r.status()).as(r.describe()).isZero();
        assertThat(r.stdout()).containsPattern("scsi: randread bs=4096 qd=32 ops=2000 cycles=\\d+").contains("scsi: randread ok");
    }
}
