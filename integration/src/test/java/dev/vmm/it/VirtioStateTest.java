package dev.vmm.it;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Snapshot and live migration of a machine with a virtio-blk disk, in the middle of the guest
 * kit's blk guest writing and verifying the whole disk pass after pass (polled virtio rings, one
 * queue). The saved state must carry the PCI function (BAR, MSI-X), the transport (status,
 * features, queue addresses) and the ring positions exactly, and the requests in flight must have
 * completed into the saved RAM: otherwise the guest times out on its queue or reads back data
 * that does not verify.
 */
class VirtioStateTest {
    /**
     * On this PVM host the guest's TSC is the host's (KVM ignores a TSC write), so after a restore
     * the guest sees the wall-clock time since the save as elapsed: its request timeout must cover that.
     */
    private static final String GUEST = "mode=verify passes=40 timeout_ms=600000";

    @BeforeAll
    static void needsKvm() {
        GuestNeeds.kvmAndGuestKit();
    }

    private static Process start(Path dir, String out, String... args) throws Exception {
        return start(dir, out, List.of(), List.of(args));
    }

    /** The binary with {@code args}, behind {@code wrap} (e.g. {@code ip netns exec NS}); output to {@code dir/out}. */
    private static Process start(Path dir, String out, List<String> wrap, List<String> args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(wrap);
        cmd.add(Vmm.binary().toString());
        cmd.addAll(args);
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve(out).toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
    }

    private static String read(Path dir, String f) throws Exception {
        return Files.readString(dir.resolve(f));
    }

    /** Waits until the guest is a few passes in (so a save lands in the middle of its I/O). */
    private static void awaitPass(Path dir, String out, int pass) throws Exception {
        for (int i = 0; i < 1200 && !read(dir, out).contains("blk: pass " + pass + ":"); i++) Thread.sleep(50);
        assertThat(read(dir, out)).contains("blk: pass " + pass + ":");
    }

    /**
     * Runs the blk guest with {@code devices} (behind {@code wrap}), saves a snapshot a few passes
     * in over QMP and quits; returns the snapshot.
     */
    private static Path saveMidRun(Path dir, List<String> wrap, List<String> devices) throws Exception {
        Path sock = dir.resolve("q.sock");
        Path snap = dir.resolve("blk.snap");
        Path kernel = GuestKit.get().image("blk", GuestKit.Format.PVH);
        List<String> args = new java.util.ArrayList<>(List.of("run", "--kernel", kernel.toString(), "--cmdline", GUEST,
                "--qmp", "unix:" + sock));
        args.addAll(devices);
        Process p = start(dir, "first.txt", wrap, args);
        try {
            awaitPass(dir, "first.txt", 2);
            try (QmpTest.Client c = new QmpTest.Client(sock)) {     // QMP directly: no client JVM start between mark and save
                c.read();
                c.execute("qmp_capabilities");
                JsonNode r = c.execute("x-vmm-snapshot-save", "{\"file\":\"" + snap + "\"}");
                assertThat(r.has("return")).as(r.toString()).isTrue();
                c.execute("quit");
            }
            assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        } finally {
            p.destroyForcibly();
        }
        assertThat(read(dir, "first.txt")).as("saved before the guest finished").doesNotContain("verify ok");
        return snap;
    }

    @Test
    void blkGuestSavedMidRunFinishesVerifyingAfterRestore(@TempDir Path dir) throws Exception {
        Path disk = GuestKitBlkVmmTest.rawDisk(dir, "d.img", 16 << 20);
        Path snap = saveMidRun(dir, List.of(), List.of("--disk", "path=" + disk));

        Vmm.Result r = Vmm.run(Duration.ofSeconds(180), "snapshot", "restore", snap.toString(), "--disk", "path=" + disk);
        assertThat(r.status()).as(r.describe()).isZero();
        assertThat(r.stdout()).contains("blk: pass 40:", "blk: verify ok 16 MiB", "EXIT 0").doesNotContain("FAIL");

        // Another disk shape is refused in one line, before anything runs.
        Path other = GuestKitBlkVmmTest.rawDisk(dir, "other.img", 32 << 20);
        Vmm.Result wrong = Vmm.run(Duration.ofSeconds(60), "snapshot", "restore", snap.toString(), "--disk", "path=" + other);
        assertThat(wrong.status()).as(wrong.describe()).isEqualTo(2);
        assertThat(wrong.stderr()).contains("virtio-blk: the saved disk has 32768 sectors, this one 65536");
        Vmm.Result none = Vmm.run(Duration.ofSeconds(60), "snapshot", "restore", snap.toString());
        assertThat(none.status()).as(none.describe()).isEqualTo(2);
        assertThat(none.stderr()).contains("same device options");
    }

    /**
     * The same, on a machine that also has a virtio-net NIC (tap in a private namespace), a
     * virtio-scsi disk and a virtio-console port — whose state was refused before. The blk guest
     * drives only its disk: the other devices are saved as the guest left them (never probed, so
     * their device state is the configuration part: MAC, pairs, MTU; LUN shapes; port set), and
     * the restore checks that part against its own command line.
     */
    @Test
    void withNetScsiAndConsoleDevicesTheSnapshotIsTakenAndRestored(@TempDir Path dir) throws Exception {
        GuestNeeds.netNamespace();
        Path disk = GuestKitBlkVmmTest.rawDisk(dir, "d.img", 16 << 20);
        Path lun = GuestKitBlkVmmTest.rawDisk(dir, "lun.img", 8 << 20);
        String tap = "vst" + ProcessHandle.current().pid() % 100000;
        try (NetNamespace ns = NetNamespace.create("vmmst")) {
            List<String> wrap = ns.command(List.of());
            List<String> devices = List.of("--disk", "path=" + disk, "--net", "tap=" + tap + ",mac=52:54:00:12:34:56",
                    "--scsi", "disk=" + lun, "--console-port", "name=org.vmm.state,file=" + dir.resolve("port.txt"));
            Path snap = saveMidRun(dir, wrap, devices);

            List<String> restore = new java.util.ArrayList<>(List.of("snapshot", "restore", snap.toString()));
            restore.addAll(devices);
            Process p = start(dir, "restored.txt", wrap, restore);
            assertThat(p.waitFor(180, TimeUnit.SECONDS)).as(read(dir, "restored.txt")).isTrue();
            String out = read(dir, "restored.txt");
            assertThat(p.exitValue()).as(out).isZero();
            assertThat(out).contains("blk: pass 40:", "blk: verify ok 16 MiB", "EXIT 0").doesNotContain("FAIL");

            // The destination's devices must be the same: another MAC, another port set are refused in one line.
            List<String> otherMac = new java.util.ArrayList<>(restore);
            otherMac.set(otherMac.indexOf("tap=" + tap + ",mac=52:54:00:12:34:56"), "tap=" + tap + ",mac=52:54:00:12:34:57");
            Process m = start(dir, "mac.txt", wrap, otherMac);
            assertThat(m.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(m.exitValue()).as(read(dir, "mac.txt")).isEqualTo(2);
            assertThat(read(dir, "mac.txt")).contains("virtio-net: the saved device has MAC 52:54:00:12:34:56, this one 52:54:00:12:34:57");
            List<String> otherPort = new java.util.ArrayList<>(restore);
            otherPort.set(otherPort.indexOf("name=org.vmm.state,file=" + dir.resolve("port.txt")), "name=org.vmm.other,file=" + dir.resolve("port.txt"));
            Process c = start(dir, "port.txt.out", wrap, otherPort);
            assertThat(c.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(c.exitValue()).as(read(dir, "port.txt.out")).isEqualTo(2);
            assertThat(read(dir, "port.txt.out")).contains("virtio-console: the saved device has ports [0 (console), 1 'org.vmm.state'], this one [0 (console), 1 'org.vmm.other']");
        }
    }

    /** A migration source and its destination (both killed on close, if still running). */
    private record Pair(Process src, Process dst) implements AutoCloseable {
        @Override
        public void close() {
            src.destroyForcibly();
            dst.destroyForcibly();
        }
    }

    /**
     * Starts a destination ({@code --incoming unix:DIR/mig.sock}, output {@code dst.txt}) and a
     * source running the guest kit's {@code guest} with {@code cmdline} (QMP {@code DIR/src.qmp},
     * output {@code src.txt}), both 64 MiB with {@code devices}: the destination opens the same
     * disks while the source holds their locks, and takes them at the hand-over.
     */
    private static Pair startPair(Path dir, String guest, String cmdline, String... devices) throws Exception {
        Path mig = dir.resolve("mig.sock"), sock = dir.resolve("src.qmp");
        List<String> d = new java.util.ArrayList<>(List.of("run", "--incoming", "unix:" + mig, "--memory", "64M"));
        d.addAll(List.of(devices));
        Process dst = start(dir, "dst.txt", List.of(), d);
        try {
            for (int i = 0; i < 600 && !Files.exists(mig); i++) Thread.sleep(50);
            List<String> s = new java.util.ArrayList<>(List.of("run", "--kernel", GuestKit.get().image(guest, GuestKit.Format.PVH).toString(),
                    "--cmdline", cmdline, "--memory", "64M", "--qmp", "unix:" + sock));
            s.addAll(List.of(devices));
            Process src = start(dir, "src.txt", List.of(), s);
            for (int i = 0; i < 600 && !Files.exists(sock); i++) Thread.sleep(50);
            return new Pair(src, dst);
        } catch (Exception e) {
            dst.destroyForcibly();
            throw e;
        }
    }

    /** Migrates the pair's source to its destination over QMP, then quits the source; returns the final stats. */
    private static JsonNode migrateAndQuit(Path dir) throws Exception {
        try (QmpTest.Client c = new QmpTest.Client(dir.resolve("src.qmp"))) {
            c.read();
            c.execute("qmp_capabilities");
            JsonNode stats = c.migrateToCompletion("unix:" + dir.resolve("mig.sock"), () -> read(dir, "dst.txt"));
            c.execute("quit");
            return stats;
        }
    }

    @Test
    void blkGuestMigratedMidRunFinishesVerifyingOnTheDestination(@TempDir Path dir) throws Exception {
        Path disk = GuestKitBlkVmmTest.rawDisk(dir, "d.img", 16 << 20);
        try (Pair p = startPair(dir, "blk", GUEST, "--disk", "path=" + disk)) {
            awaitPass(dir, "src.txt", 2);
            JsonNode stats = migrateAndQuit(dir);
            assertThat(stats.path("x-dirty-log-mode").asText()).as("device DMA is not in KVM's log").isEqualTo("verified");
            assertThat(p.src().waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(p.dst().waitFor(180, TimeUnit.SECONDS)).as(read(dir, "dst.txt")).isTrue();
            String out = read(dir, "dst.txt");
            assertThat(p.dst().exitValue()).as(out).isZero();
            assertThat(out).contains("incoming migration complete", "blk: pass 40:", "blk: verify ok 16 MiB", "EXIT 0")
                    .doesNotContain("FAIL").doesNotContain("locked");
            assertThat(read(dir, "src.txt")).doesNotContain("verify ok");
        }
    }

    /**
     * A virtio-scsi disk is handed over like a virtio-blk one: the destination opens it while the
     * source holds its lock, the source drops it after READY, the destination takes it at GO — so
     * afterwards a third VMM is refused the disk, and the destination never ran without the lock.
     */
    @Test
    void scsiGuestMigratedMidRunTakesTheDiskLockOnTheDestination(@TempDir Path dir) throws Exception {
        Path disk = GuestKitBlkVmmTest.rawDisk(dir, "s.img", 16 << 20);
        try (Pair p = startPair(dir, "scsi", "mode=randread secs=12 qd=8", "--scsi", "disk=" + disk)) {
            for (int i = 0; i < 600 && !read(dir, "src.txt").contains("num_queues"); i++) Thread.sleep(50);
            Thread.sleep(1000); // into the random reads
            migrateAndQuit(dir);
            assertThat(p.src().waitFor(30, TimeUnit.SECONDS)).isTrue();
            // The destination, still reading, holds the image's lock now.
            for (int i = 0; i < 200 && !read(dir, "dst.txt").contains("incoming migration complete"); i++) Thread.sleep(50);
            Vmm.Result third = Vmm.run(java.time.Duration.ofSeconds(60), "run", "--kernel",
                    GuestKit.get().image("scsi", GuestKit.Format.PVH).toString(),
                    "--memory", "64M", "--scsi", "disk=" + disk);
            assertThat(third.status()).as(third.describe()).isNotZero();
            assertThat(third.stderr()).as(third.describe()).contains("locked by another user");
            assertThat(p.dst().waitFor(180, TimeUnit.SECONDS)).as(read(dir, "dst.txt")).isTrue();
            String out = read(dir, "dst.txt");
            assertThat(p.dst().exitValue()).as(out).isZero();
            assertThat(out).contains("incoming migration complete", "scsi: randread ok", "EXIT 0")
                    .doesNotContain("FAIL").doesNotContain("without the lock");
            assertThat(read(dir, "src.txt")).doesNotContain("randread ok");
        }
    }
}
