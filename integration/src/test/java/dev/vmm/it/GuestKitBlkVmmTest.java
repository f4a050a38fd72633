package dev.vmm.it;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * virtio-blk through the real binary, driven by the guest kit's freestanding virtio-pci + blk
 * driver: data written and verified across the disk, flush, GET_ID, discard reaching the host file
 * as holes, multiqueue from two vCPUs, image formats, read-only disks, locking and throttling.
 */
class GuestKitBlkVmmTest {
    private static final Duration T = Duration.ofSeconds(180);

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

    static Vmm.Result boot(GuestKit.Format f, String cmdline, String... extra) throws Exception {
        List<String> args = new ArrayList<>(List.of("run", "--kernel", GuestKit.get().image("blk", f).toString(),
                "--cmdline", cmdline));
        args.addAll(List.of(extra));
        return Vmm.run(T, args);
    }

    static long allocatedBlocks(Path p) throws Exception {
        Process pr = new ProcessBuilder("stat", "-c", "%b", p.toString()).start();
        String out = new String(pr.getInputStream().readAllBytes()).strip();
        pr.waitFor();
        return Long.parseLong(out);
    }

    @ParameterizedTest
    @EnumSource(GuestKit.Format.class)
    void writeFlushReadVerifyAndSerial(GuestKit.Format f, @TempDir Path dir) throws Exception {
        Path disk = rawDisk(dir, "d.img", 16 << 20);
        Vmm.Result r = boot(f, "mode=verify serial=test-serial-1", "--disk", "path=" + disk + ",serial=test-serial-1");
        assertThat(r.status()).as(r.describe()).isZero();
        assertThat(r.stdout()).contains("blk: serial \"test-serial-1\" ok", "blk: verify ok 16 MiB");
        // The data really reached the file: the guest's pattern is not all zeroes.
        assertThat(allocatedBlocks(disk)).isGreaterThan(0);
    }

    @Test
    void discardPunchesHolesInTheHostFile(@TempDir Path dir) throws Exception {
        Path disk = rawDisk(dir, "d.img", 32 << 20);
        Vmm.Result r = boot(GuestKit.Format.PVH, "mode=discard discard_mib=8", "--disk", "path=" + disk + ",discard=unmap");
        assertThat(r.status()).as(r.describe()).isZero();
        assertThat(r.stdout()).contains("blk: discard ok 8 MiB");
        // The guest wrote 9 MiB and discarded 8: about 1 MiB stays allocated (512-byte blocks).
        assertThat(allocatedBlocks(disk)).isLessThan(3L * 2048);
    }

    @Test
    void oneQueuePerVcpu(@TempDir Path dir) throws Exception {
        Path disk = rawDisk(dir, "d.img", 16 << 20);
        Vmm.Result r = boot(GuestKit.Format.PVH, "mode=mq max_mib=4", "--cpus", "2", "--disk", "path=" + disk + ",queues=2");
        assertThat(r.status()).as(r.describe()).isZero();
        assertThat(r.stdout()).contains("2/2 queues", "queue 0: sectors", "queue 1: sectors", "blk: mq ok 2 queues");
    }

    @Test
    void qcow2DiskStaysConsistent(@TempDir Path dir) throws Exception {
        Path disk = dir.resolve("d.qcow2");
        Vmm.Result c = Vmm.run(T, "img", "create", "-f", "qcow2", disk.toString(), "16M");
        assertThat(c.status()).as(c.describe()).isZero();
        Vmm.Result r = boot(GuestKit.Format.PVH, "mode=verify", "--disk", "path=" + disk);
        assertThat(r.status()).as(r.describe()).isZero();
        assertThat(r.stdout()).contains("blk: verify ok 16 MiB");
        Vmm.Result check = Vmm.run(T, "img", "check", disk.toString());
        assertThat(check.status()).as(check.describe()).isZero();
        if (Files.isExecutable(Path.of("/usr/bin/qemu-img"))) {
            Process q = new ProcessBuilder("qemu-img", "check", disk.toString()).redirectErrorStream(true).start();
            String out = new String(q.getInputStream().readAllBytes());
            assertThat(q.waitFor()).as(out).isZero();
        }
    }

    @Test
    void readOnlyDiskRefusesWrites(@TempDir Path dir) throws Exception {
        Path disk = rawDisk(dir, "d.img", 8 << 20);
        Vmm.Result r = boot(GuestKit.Format.PVH, "mode=verify", "--disk", "path=" + disk + ",readonly=on");
        assertThat(r.status()).as(r.describe()).isEqualTo(1);
        assertThat(r.stdout()).contains("blk: FAIL");
        assertThat(allocatedBlocks(disk)).isZero();
    }

    @Test
    void aDiskInUseIsRefused(@TempDir Path dir) throws Exception {
        Path disk = rawDisk(dir, "d.img", 8 << 20);
        try (RandomAccessFile holder = new RandomAccessFile(disk.toFile(), "rw");
             var lock = holder.getChannel().lock()) {
            // A POSIX record lock from another process: our OFD lock must see the conflict.
            Vmm.Result r = boot(GuestKit.Format.PVH, "mode=verify", "--disk", "path=" + disk);
            assertThat(r.status()).as(r.describe()).isNotZero();
            assertThat(r.stderr()).contains("locked");
        }
    }

    @Test
    void missingDiskIsOneLine() throws Exception {
        Vmm.Result r = boot(GuestKit.Format.PVH, "mode=verify", "--disk", "path=/nonexistent/disk.img");
        assertThat(r.status()).isEqualTo(2);
        assertThat(r.stderr().strip()).isEqualTo("vmm: --disk /nonexistent/disk.img: no such file");
    }

    @Test
    void iopsLimitIsHeldWithinTenPercent(@TempDir Path dir) throws Exception {
        Path disk = rawDisk(dir, "d.img", 16 << 20);
        Vmm.Result r = boot(GuestKit.Format.PVH, "mode=rate secs=4 bs=4K warmup=1", "--disk", "path=" + disk + ",iops=400");
        assertThat(r.status()).as(r.describe()).isZero();
        Matcher m = Pattern.compile("ops=(\\d+) bytes=\\d+ cycles=\\d+ us=(\\d+)").matcher(r.stdout());
        assertThat(m.find()).as(r.stdout()).isTrue();
        double iops = Long.parseLong(m.group(1)) * 1e6 / Long.parseLong(m.group(2));
        assertThat(iops).as(r.stdout()).isBetween(360.0, 440.0);
    }

    @Test
    void bandwidthLimitIsHeldWithinTenPercent(@TempDir Path dir) throws Exception {
        Path disk = rawDisk(dir, "d.img", 16 << 20);
        Vmm.Result r = boot(GuestKit.Format.PVH, "mode=rate secs=4 bs=64K warmup=1", "--disk", "path=" + disk + ",bps=4M");
        assertThat(r.status()).as(r.describe()).isZero();
        Matcher m = Pattern.compile("bytes=(\\d+) cycles=\\d+ us=(\\d+)").matcher(r.stdout());
        assertThat(m.find()).as(r.stdout()).isTrue();
        double bps = Long.parseLong(m.group(1)) * 1e6 / Long.parseLong(m.group(2));
        assertThat(bps).as(r.stdout()).isBetween(0.9 * (4 << 20), 1.1 * (4 << 20));
    }

    @Test
    void fortyDisksNeedAPciBridgeAndAllEnumerate(@TempDir Path dir) throws Exception {
        List<String> args = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            args.add("--disk");
            args.add("path=" + rawDisk(dir, "d" + i + ".img", 1 << 20) + ",serial=disk" + i);
        }
        Vmm.Result r = boot(GuestKit.Format.PVH, "mode=verify disk=39 serial=disk39", args.toArray(String[]::new));
        assertThat(r.status()).as(r.describe()).isZero();
        // More than the 31 free root slots: the last disks sit behind a PCI-to-PCI bridge on bus 1.
        assertThat(r.stdout()).containsPattern("blk: 01:[0-9a-f]{2}\\.0 capacity").contains("blk: serial \"disk39\" ok", "blk: verify ok 1 MiB");
    }
}
