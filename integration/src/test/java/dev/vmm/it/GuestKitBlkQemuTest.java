package dev.vmm.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vmm.it.GuestKit.Format;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Runs the guest kit's {@code blk} guest (virtio-pci + virtio-blk driver) under QEMU with a
 * modern-only virtio-blk-pci device, so that the driver is known to be right before it is pointed
 * at our VMM's virtio-blk.
 */
class GuestKitBlkQemuTest {
    private static final int MIB = 1 << 20;
    private static GuestKit kit;

    @TempDir Path dir;

    @BeforeAll
    static void requireQemuAndKit() {
        GuestNeeds.qemu();
        kit = GuestNeeds.guestKit();
    }

    /** A raw image of {@code mib} MiB; {@code filled} writes non-zero data so every block is allocated. */
    private Path image(int mib, boolean filled) throws IOException {
        Path p = dir.resolve("disk.img");
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            if (filled) {
                byte[] chunk = new byte[MIB];
                Arrays.fill(chunk, (byte) 0xa5);
                for (int i = 0; i < mib; i++) ch.write(ByteBuffer.wrap(chunk));
            } else {
                ch.truncate(0);
                ch.position((long) mib * MIB - 1);
                ch.write(ByteBuffer.wrap(new byte[1]));
            }
        }
        return p;
    }

    private static Qemu.Result boot(Format format, Path disk, int cpus, int queues, String cmdline) throws Exception {
        Qemu.Config c = Qemu.Config.defaults().withMemoryMib(256).withCpus(cpus).withCmdline(cmdline)
                .withExtraArgs("-drive", "file=" + disk + ",if=none,id=d0,format=raw,discard=unmap",
                        "-device", "virtio-blk-pci,drive=d0,num-queues=" + queues + ",serial=abc,disable-legacy=on");
        Qemu.Result r = Qemu.run(kit.image("blk", format), c);
        assertThat(r.timedOut()).as("timed out: %s", r.describe()).isFalse();
        assertThat(r.guestExitCode()).as("exit port value vs EXIT line: %s", r.describe())
                .isEqualTo(r.serialExitCode());
        return r;
    }

    /** Allocated 512-byte blocks of a file ({@code stat -c %b}; java.nio does not expose st_blocks). */
    private static long allocatedBlocks(Path p) throws Exception {
        Process proc = new ProcessBuilder("stat", "-c", "%b", p.toString()).redirectErrorStream(true).start();
        String out = new String(proc.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertThat(proc.waitFor(10, TimeUnit.SECONDS)).isTrue();
        assertThat(proc.exitValue()).as("stat: %s", out).isZero();
        return Long.parseLong(out);
    }

    @ParameterizedTest
    @EnumSource(Format.class)
    void verifyWritesReadsBackTheWholeDiskAndChecksTheSerial(Format format) throws Exception {
        Path disk = image(32, false);
        Qemu.Result r = boot(format, disk, 1, 1, "mode=verify serial=abc");
        assertThat(r.serial())
                .contains("capacity 65536 sectors (32 MiB)")
                .contains("blk: serial \"abc\" ok\n")
                .contains("blk: verify ok 32 MiB\n")
                .endsWith("EXIT 0\n");
        assertThat(r.guestExitCode()).hasValue(0);
    }

    @Test
    void verifyFailsOnAWrongSerial() throws Exception {
        Qemu.Result r = boot(Format.PVH, image(4, false), 1, 1, "mode=verify serial=xyz");
        assertThat(r.serial()).contains("blk: FAIL: GET_ID returned \"abc\", expected \"xyz\"\n");
        assertThat(r.guestExitCode()).hasValue(1);
    }

    @Test
    void discardPunchesHolesTheHostCanSee() throws Exception {
        Path disk = image(32, true);
        long before = allocatedBlocks(disk);
        assertThat(before).as("image fully allocated").isGreaterThanOrEqualTo(32L * MIB / 512);
        Qemu.Result r = boot(Format.PVH, disk, 1, 1, "mode=discard discard_mib=16 discard_at_mib=8");
        assertThat(r.serial())
                .contains("blk: discarded 16 MiB at 8 MiB (sectors 16384-49151")
                .contains("blk: discard ok 16 MiB at 8 MiB, write-zeroes (unmap) read back as zeroes\n");
        assertThat(r.guestExitCode()).hasValue(0);
        long after = allocatedBlocks(disk);
        // 16 MiB = 32768 blocks; allow a little for file system granularity at the edges.
        assertThat(before - after).as("blocks freed (before %d, after %d)", before, after)
                .isGreaterThanOrEqualTo(16L * MIB / 512 - 2 * 4096 / 512);
    }

    @ParameterizedTest
    @EnumSource(Format.class)
    void mqDrivesOneQueuePerVcpu(Format format) throws Exception {
        Qemu.Result r = boot(format, image(16, false), 2, 2, "mode=mq");
        assertThat(r.serial())
                .contains("blk: mq: 2 CPUs (madt), 2 queues set up, using 2\n")
                .containsPattern("blk: mq: queue 0: sectors 0-16383 written and verified")
                .containsPattern("blk: mq: queue 1: sectors 16384-32767 written and verified")
                .contains("blk: mq ok 2 queues 16 MiB\n");
        assertThat(r.guestExitCode()).hasValue(0);
    }

    @Test
    void randomReadBenchmarkReportsOperations() throws Exception {
        Qemu.Result r = boot(Format.PVH, image(16, false), 1, 1, "mode=randread count=2000 qd=32");
        assertThat(r.serial())
                .containsPattern("blk: randread bs=4096 qd=32 ops=2000 bytes=8192000 cycles=\\d+")
                .contains("blk: randread ok\n");
        assertThat(r.guestExitCode()).hasValue(0);
    }
}
