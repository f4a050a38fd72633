package dev.vmm.it;

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
 * Snapshot in one process, restore in another: the memtest guest is saved in the middle of its
 * passes and must finish in the new process with every pattern it wrote still verifying — the
 * guest itself checks that RAM and CPU state came back exactly.
 */
class SnapshotTest {
    @BeforeAll
    static void needsKvm() {
        GuestNeeds.kvm();
    }

    @Test
    void saveMidRunAndRestoreInANewProcess(@TempDir Path dir) throws Exception {
        Path sock = dir.resolve("qmp.sock");
        Path snap = dir.resolve("memtest.snap");
        Path kernel = GuestKit.get().image("memtest", GuestKit.Format.PVH);
        Process p = new ProcessBuilder(List.of(Vmm.binary().toString(), "run", "--kernel", kernel.toString(),
                "--cmdline", "passes=2000 max_mib=8", "--memory", "48M", "--qmp", "unix:" + sock))
                .redirectErrorStream(true).redirectOutput(dir.resolve("first.txt").toFile()).start();
        try {
            for (int i = 0; i < 600 && !Files.exists(sock); i++) Thread.sleep(50);
            Thread.sleep(500); // let it get into its passes (2000 over 8 MiB take ~9 s; the save client needs ~1 s to start)
            Vmm.Result save = Vmm.run(Duration.ofSeconds(60), "snapshot", "save", "--qmp", "unix:" + sock, "--then", "quit", snap.toString());
            assertThat(save.status()).as(save.describe()).isZero();
            assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        } finally {
            p.destroyForcibly();
        }
        String first = Files.readString(dir.resolve("first.txt"));
        assertThat(first).as("saved before the guest finished").doesNotContain("EXIT 0");
        assertThat(snap).exists();

        Vmm.Result r = Vmm.run(Duration.ofSeconds(180), "snapshot", "restore", snap.toString());
        assertThat(r.status()).as(r.describe()).isZero();
        assertThat(r.stdout()).contains("2000 pass(es)", "ok", "EXIT 0").doesNotContain("memtest: range");
    }

    @Test
    void corruptSnapshotIsRefusedInOneLine(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("bad.snap");
        Files.write(f, "VMMSTATE\0\0\0\1\1garbage".getBytes());
        Vmm.Result r = Vmm.run(Duration.ofSeconds(60), "run", "--restore", f.toString());
        assertThat(r.status()).as(r.describe()).isEqualTo(2);
        assertThat(r.stderr().strip().lines()).hasSize(1);
        assertThat(r.stderr()).startsWith("vmm: snapshot " + f + ": ");
    }
}
