package dev.vmm.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The binary's user-facing behaviour: help, version, and one-line errors with exit status 2. */
class CliTest {
    private static final Duration T = Duration.ofSeconds(60);

    @Test
    void helpListsTheRunOptions() throws Exception {
        Vmm.Result r = Vmm.run(T, "run", "--help");
        assertThat(r.status()).as(r.describe()).isZero();
        assertThat(r.stdout()).contains("--kernel", "--initrd", "--cmdline", "--memory", "--cpus", "--serial");
    }

    @Test
    void versionNamesTheProgram() throws Exception {
        Vmm.Result r = Vmm.run(T, "--version");
        assertThat(r.status()).isZero();
        assertThat(r.stdout()).startsWith("vmm ");
    }

    @Test
    void unknownOptionIsOneLineAndStatus2() throws Exception {
        Vmm.Result r = Vmm.run(T, "run", "--no-such-option");
        assertThat(r.status()).isEqualTo(2);
        assertThat(r.stderr().strip().lines()).hasSize(1);
        assertThat(r.stderr()).contains("--no-such-option");
    }

    @Test
    void missingKernelFile() throws Exception {
        Vmm.Result r = Vmm.run(T, "run", "--kernel", "/nonexistent/kernel");
        assertThat(r.status()).isEqualTo(2);
        assertThat(r.stderr().strip()).isEqualTo("vmm: kernel /nonexistent/kernel: no such file");
    }

    @Test
    void notAKernel(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("notes.txt");
        Files.writeString(f, "hello, I am not a kernel\n".repeat(100));
        Vmm.Result r = Vmm.run(T, "run", "--kernel", f.toString());
        assertThat(r.status()).isEqualTo(2);
        assertThat(r.stderr().strip()).isEqualTo("vmm: " + f + ": not a kernel (not ELF, not a bzImage)");
    }

    @Test
    void truncatedElf(@TempDir Path dir) throws Exception {
        Path good = GuestKit.get().image("hello", GuestKit.Format.PVH);
        byte[] b = Files.readAllBytes(good);
        Path f = dir.resolve("truncated.elf");
        Files.write(f, java.util.Arrays.copyOf(b, 200));
        Vmm.Result r = Vmm.run(T, "run", "--kernel", f.toString());
        assertThat(r.status()).isEqualTo(2);
        assertThat(r.stderr().strip().lines()).hasSize(1);
        assertThat(r.stderr()).contains("lies outside the file");
    }

    @Test
    void kernelThatNeedsMoreMemoryThanGiven(@TempDir Path dir) throws Exception {
        // A minimal ELF64 executable whose one segment wants 64 MiB at 1 MiB.
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(120).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1, 0}).position(16);
        b.putShort((short) 2).putShort((short) 62).putInt(1).putLong(0x100000).putLong(64).putLong(0)
                .putInt(0).putShort((short) 64).putShort((short) 56).putShort((short) 1).putShort((short) 0)
                .putShort((short) 0).putShort((short) 0);
        b.putInt(1).putInt(7).putLong(0).putLong(0x100000).putLong(0x100000).putLong(0).putLong(64L << 20).putLong(0x1000);
        Path f = dir.resolve("big.elf");
        Files.write(f, b.array());
        Vmm.Result r = Vmm.run(T, "run", "--kernel", f.toString(), "--memory", "32M");
        assertThat(r.status()).as(r.describe()).isEqualTo(2);
        assertThat(r.stderr().strip().lines()).hasSize(1);
        assertThat(r.stderr()).contains("needs more memory than given");
    }

    @Test
    void badMemorySize() throws Exception {
        Vmm.Result r = Vmm.run(T, "run", "--memory", "lots");
        assertThat(r.status()).isEqualTo(2);
        assertThat(r.stderr().strip().lines()).hasSize(1);
        assertThat(r.stderr()).contains("'lots' is not a size");
    }

    @Test
    void tooManyCpus() throws Exception {
        Vmm.Result r = Vmm.run(T, "run", "--cpus", "999");
        assertThat(r.status()).isEqualTo(2);
        // QEMU's -smp words (SmpTopologyQemuOracleTest compares them with QEMU's), one line, status 2.
        assertThat(r.stderr().strip()).isEqualTo("vmm: --cpus 999: Invalid SMP CPUs 999. The max CPUs supported by machine 'pc' is 255");
    }

    @Test
    void commandLineTooLong() throws Exception {
        Vmm.Result r = Vmm.run(T, "run", "--cmdline", "x".repeat(70000));
        assertThat(r.status()).isEqualTo(2);
        assertThat(r.stderr()).contains("kernel command line is too long");
    }

    // Everything the user gave is checked before /dev/kvm is opened, so these answer the same on a
    // host with KVM and on one without: status 2 and one line, never "cannot open /dev/kvm".

    @Test
    void aTextFileGivenAsKernelIsNotRecognisedOnAnyHost() throws Exception {
        Vmm.Result r = Vmm.run(T, "run", "--kernel", "/etc/hostname");
        assertThat(r.status()).as(r.describe()).isEqualTo(2);
        assertThat(r.stderr().strip()).isEqualTo("vmm: /etc/hostname: not a kernel (not ELF, not a bzImage)");
    }

    @Test
    void lockedDiskIsOneLineAndStatus2(@TempDir Path dir) throws Exception {
        Path img = dir.resolve("disk.img");
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(1 << 20);
        }
        // A POSIX record lock held by this process conflicts with the VMM's OFD write lock.
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(img,
                java.nio.file.StandardOpenOption.READ, java.nio.file.StandardOpenOption.WRITE);
             java.nio.channels.FileLock lock = ch.lock()) {
            Vmm.Result r = Vmm.run(T, "run", "--disk", "path=" + img);
            assertOneLineUserError(r);
            assertThat(r.stderr()).contains("disk image " + img + " is locked by another user");
        }
    }

    @Test
    void corruptQcow2GivenToDiskIsOneLineAndStatus2(@TempDir Path dir) throws Exception {
        Path img = unsupportedQcow2(dir);
        Vmm.Result r = Vmm.run(T, "run", "--disk", "path=" + img);
        assertOneLineUserError(r);
        assertThat(r.stderr().strip()).isEqualTo("vmm: --disk " + img + ": unsupported qcow2 version 99");
    }

    @Test
    void corruptQcow2GivenToScsiIsOneLineAndStatus2(@TempDir Path dir) throws Exception {
        Path img = dir.resolve("bad.qcow2");
        byte[] header = new byte[4096];
        byte[] magic = {'Q', 'F', 'I', (byte) 0xfb, 0, 0, 0, 3, -1, -1, -1, -1, -1, -1, -1, -1}; // backing offset past the file
        System.arraycopy(magic, 0, header, 0, magic.length);
        Files.write(img, header);
        Vmm.Result r = Vmm.run(T, "run", "--scsi", "path=" + img);
        assertOneLineUserError(r);
        assertThat(r.stderr()).startsWith("vmm: --scsi " + img + ": ");
    }

    @Test
    void missingBridgeIsOneLineAndStatus2() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(isRoot() && Files.exists(Path.of("/dev/net/tun")),
                "creating a tap needs root and /dev/net/tun");
        String tap = "vmmcli" + (ProcessHandle.current().pid() % 10000);
        Vmm.Result r = Vmm.run(T, "run", "--net", "tap=" + tap + ",bridge=nosuchbr" + (ProcessHandle.current().pid() % 1000));
        assertOneLineUserError(r);
        assertThat(r.stderr()).contains("does not exist");
        assertThat(Files.exists(Path.of("/sys/class/net", tap))).as("the tap made for the run is removed again").isFalse();
    }

    @Test
    void unknownMachineIsOneLineAndStatus2() throws Exception {
        Vmm.Result r = Vmm.run(T, "run", "--machine", "pdp11");
        assertThat(r.status()).as(r.describe()).isEqualTo(2);
        assertThat(r.stderr().strip()).isEqualTo("vmm: --machine: unknown machine 'pdp11' (available: pc, q35)");
    }

    @Test
    void unwritableSerialFileIsOneLineAndStatus2() throws Exception {
        Vmm.Result r = Vmm.run(T, "run", "--serial", "file:/nonexistent/dir/serial.log");
        assertOneLineUserError(r);
        assertThat(r.stderr()).contains("/nonexistent/dir/serial.log");
    }

    @Test
    void hostWithoutKvmIsStatus1AfterTheArgumentsWereChecked() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeFalse(Vmm.kvmUsable(), "this host has a usable /dev/kvm: the demo guest would run");
        Vmm.Result r = Vmm.run(T, "run", "--pvpanic", "pci", "--rng");
        assertThat(r.status()).as(r.describe()).isEqualTo(1);
        assertThat(r.stderr().strip().lines()).hasSize(1);
        assertThat(r.stderr()).contains("/dev/kvm").doesNotContain("Exception");
    }

    @Test
    void dryRunPrintsTheMachineWithoutKvm(@TempDir Path dir) throws Exception {
        Path raw = dir.resolve("a.img"), other = dir.resolve("b.img");
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(raw.toFile(), "rw")) {
            f.setLength(1 << 20);
        }
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(other.toFile(), "rw")) {
            f.setLength(1 << 20);
        }
        Vmm.Result r = Vmm.run(T, "run", "--dry-run", "--memory", "4G", "--cpus", "2", "--disk", "path=" + raw,
                "--scsi", "path=" + other + ",readonly=on", "--rng", "--pvpanic", "pci");
        assertThat(r.status()).as(r.describe()).isZero();
        assertThat(r.stdout()).contains("machine: pc", "memory: 4096 MiB", "0x000100000000-0x00013fffffff ram",
                // no --kernel and a bootable drive: firmware boot through Debian's SeaBIOS (issue 13)
                "kernel: none (firmware /usr/share/seabios/bios-256k.bin)", "firmware: /usr/share/seabios/bios-256k.bin, 256 KiB",
                "hpet: 0xfed00000",
                "00:01.0 virtio-blk-pci " + raw + " (raw, id virtio0)",
                "00:02.0 virtio-scsi-pci LUN 0 " + other + " (raw)",
                "00:03.0 virtio-rng-pci", "00:04.0 pvpanic-pci");
        // The images were opened and locked, and let go again: a second dry run gets them too.
        assertThat(Vmm.run(T, "run", "--dry-run", "--disk", "path=" + raw).status()).isZero();
    }

    @Test
    void q35DryRunShowsTheChipsetAndAhciAt1f2(@TempDir Path dir) throws Exception {
        Path disk = dir.resolve("disk.img"), iso = dir.resolve("cd.iso"), blk = dir.resolve("blk.img");
        for (Path p : List.of(disk, iso, blk)) {
            try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(p.toFile(), "rw")) {
                f.setLength(1 << 20);
            }
        }
        Vmm.Result r = Vmm.run(T, "run", "--machine", "q35", "--dry-run", "--memory", "4G", "--cdrom", iso.toString(),
                "--ahci", "path=" + disk + ",discard=unmap,bootindex=1", "--disk", "path=" + blk, "--rng");
        assertThat(r.status()).as(r.describe()).isZero();
        assertThat(r.stdout()).contains("machine: q35", "memory: 4096 MiB",
                "-0x00007fffffff ram\n", "0x000100000000-0x00017fffffff ram\n",   // 2 GiB low (below ECAM), 2 GiB high
                "  00:00.0 q35-mch\n", "  00:1f.0 ich9-lpc\n",
                "  00:1f.2 ich9-ahci port 0 cdrom " + iso + " (raw, read-only), port 1 disk " + disk + " (raw)\n",
                "  00:01.0 virtio-blk-pci " + blk, "  00:02.0 virtio-rng-pci");
        assertThat(r.stdout()).contains("  0x0000b0000000-0x0000bfffffff pci express ecam");
    }

    @Test
    void ahciAndCdromAreRefusedOnPcInOneLine(@TempDir Path dir) throws Exception {
        Path disk = dir.resolve("disk.img");
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(disk.toFile(), "rw")) {
            f.setLength(1 << 20);
        }
        for (String[] args : List.of(new String[] {"run", "--ahci", "path=" + disk},
                new String[] {"run", "--machine", "pc", "--dry-run", "--cdrom", disk.toString()})) {
            Vmm.Result r = Vmm.run(T, args);
            assertThat(r.status()).as(r.describe()).isEqualTo(2);
            assertThat(r.stderr().strip()).isEqualTo("vmm: AHCI needs --machine q35");
        }
    }

    @Test
    void badAhciOptionsAreOneLineAndStatus2(@TempDir Path dir) throws Exception {
        Vmm.Result missing = Vmm.run(T, "run", "--machine", "q35", "--dry-run", "--ahci", "path=" + dir.resolve("nope.img"));
        assertOneLineUserError(missing);
        assertThat(missing.stderr()).startsWith("vmm: --ahci " + dir.resolve("nope.img") + ": ");
        Path disk = dir.resolve("d.img");
        Files.write(disk, new byte[4096]);
        java.util.List<String> seven = new java.util.ArrayList<>(List.of("run", "--machine", "q35", "--dry-run"));
        for (int i = 0; i < 7; i++) seven.addAll(List.of("--cdrom", disk.toString()));
        Vmm.Result tooMany = Vmm.run(T, seven.toArray(String[]::new));
        assertOneLineUserError(tooMany);
        assertThat(tooMany.stderr()).contains("6 ports");
    }

    @Test
    void dryRunFindsWhatARunWouldRefuse(@TempDir Path dir) throws Exception {
        Path img = unsupportedQcow2(dir);
        Vmm.Result r = Vmm.run(T, "run", "--dry-run", "--disk", "path=" + img);
        assertOneLineUserError(r);
        assertThat(r.stdout()).isEmpty();
    }

    /** A file with qcow2's magic and a version (99) no qcow2 reader supports. */
    private static Path unsupportedQcow2(Path dir) throws java.io.IOException {
        Path img = dir.resolve("bad.qcow2");
        byte[] header = new byte[4096];
        byte[] magic = {'Q', 'F', 'I', (byte) 0xfb, 0, 0, 0, 99};
        System.arraycopy(magic, 0, header, 0, magic.length);
        return Files.write(img, header);
    }

    private static void assertOneLineUserError(Vmm.Result r) {
        assertThat(r.status()).as(r.describe()).isEqualTo(2);
        assertThat(r.stderr().strip().lines()).as(r.describe()).hasSize(1);
        assertThat(r.stderr()).as(r.describe()).startsWith("vmm: ").doesNotContain("internal error", "Exception", "\tat ");
    }

    private static boolean isRoot() {
        return "root".equals(System.getProperty("user.name"));
    }
}
