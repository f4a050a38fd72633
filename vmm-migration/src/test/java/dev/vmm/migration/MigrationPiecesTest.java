package dev.vmm.migration;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** URIs, parameters, capabilities, page hash and the dirty-log self-test on their own. */
class MigrationPiecesTest {
    @Test
    void parsesQemuStyleUris() {
        assertThat(MigrationUri.parse("tcp:10.0.0.2:4444")).isEqualTo(new MigrationUri.Tcp("10.0.0.2", 4444));
        assertThat(MigrationUri.parse("tcp:[::1]:4444")).isEqualTo(new MigrationUri.Tcp("::1", 4444));
        assertThat(MigrationUri.parse("tcp::4444")).isEqualTo(new MigrationUri.Tcp("0.0.0.0", 4444));
        assertThat(MigrationUri.parse("unix:/run/vmm/mig.sock")).isEqualTo(new MigrationUri.Unix(Path.of("/run/vmm/mig.sock")));
        assertThat(MigrationUri.parse("tcp:[::1]:4444").toString()).isEqualTo("tcp:[::1]:4444");
        assertThatThrownBy(() -> MigrationUri.parse("exec:cat")).hasMessageContaining("scheme 'exec' is not supported");
        assertThatThrownBy(() -> MigrationUri.parse("tcp:host")).hasMessageContaining("not tcp:HOST:PORT");
        assertThatThrownBy(() -> MigrationUri.parse("tcp:host:http")).hasMessageContaining("bad port 'http'");
        assertThatThrownBy(() -> MigrationUri.parse("tcp:host:70000")).hasMessageContaining("bad port 70000");
        assertThatThrownBy(() -> MigrationUri.parse("unix:")).hasMessageContaining("no socket path");
    }

    @Test
    void parametersUseQmpNamesDefaultsAndRanges() {
        MigrationParameters p = new MigrationParameters();
        assertThat(p.toMap()).containsEntry("downtime-limit", 300L).containsEntry("max-bandwidth", 128L << 20)
                .containsEntry("xbzrle-cache-size", 64L << 20).containsEntry("x-dirty-log-verify", "auto");
        p.set("downtime-limit", 50).set("max-bandwidth", "1000000").set("x-dirty-log-verify", "on");
        assertThat(p.downtimeLimitMs()).isEqualTo(50);
        assertThat(p.maxBandwidth()).isEqualTo(1_000_000);
        assertThat(p.dirtyLogVerify()).isEqualTo(MigrationParameters.VerifyMode.ON);
        assertThatThrownBy(() -> p.set("downtime-limit", -1)).hasMessageContaining("'downtime-limit' expects a value between 0");
        assertThatThrownBy(() -> p.set("cpu-throttle-initial", 100)).hasMessageContaining("between 1 and 99");
        assertThatThrownBy(() -> p.set("compress-level", 1)).hasMessageContaining("'compress-level' is unexpected");
        assertThatThrownBy(() -> p.set("x-dirty-log-verify", "maybe")).hasMessageContaining("auto, on or off");
        assertThatThrownBy(() -> p.set("max-bandwidth", "lots")).hasMessageContaining("expects an integer");

        MigrationCapabilities c = new MigrationCapabilities().set("xbzrle", true);
        assertThat(c.xbzrle()).isTrue();
        assertThat(c.toList()).hasSize(3).first().asString().contains("xbzrle");
        assertThat(c.events()).isFalse();
        assertThat(c.set("events", true).events()).isTrue();   // QEMU's: a destination's MIGRATION events (issue 15)
        assertThatThrownBy(() -> c.set("postcopy-ram", true)).hasMessageContaining("'postcopy-ram' is not supported");
    }

    @Test
    void pageHashSeesEveryByteAndIgnoresWhereThePageLives() {
        byte[] page = new byte[4096];
        new Random(1).nextBytes(page);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment nativeCopy = arena.allocate(8192, 4096);
            MemorySegment.copy(MemorySegment.ofArray(page), 0, nativeCopy, 4096, 4096);
            long h = PageHash.hash(MemorySegment.ofArray(page), 0, 4096);
            assertThat(PageHash.hash(nativeCopy, 4096, 4096)).isEqualTo(h);
            Set<Long> seen = new HashSet<>();
            seen.add(h);
            for (int i = 0; i < 4096; i += 7) {
                for (int bit = 0; bit < 8; bit += 3) {
                    page[i] ^= (byte) (1 << bit);
                    assertThat(seen.add(PageHash.hash(MemorySegment.ofArray(page), 0, 4096))).as("byte %d bit %d", i, bit).isTrue();
                    page[i] ^= (byte) (1 << bit);
                }
            }
            // Swapping two words must change it too (lanes are position-dependent).
            byte[] swapped = page.clone();
            System.arraycopy(page, 0, swapped, 32, 8);
            System.arraycopy(page, 32, swapped, 0, 8);
            assertThat(PageHash.hash(MemorySegment.ofArray(swapped), 0, 4096)).isNotEqualTo(h);
        }
    }

    @Test
    void selfTestPassesAnHonestLogFailsALyingOneAndRestoresTheProbe() throws Exception {
        try (FakeVm honest = new FakeVm(false, 4); FakeVm lying = new FakeVm(true, 4)) {
            long probe = honest.lyingPage + 64;
            long before = honest.memory.readU64(probe);
            honest.dirtyLog.start();
            DirtyLogSelfTest.Result ok = new DirtyLogSelfTest(honest.memory, honest::guestWrite, probe, FakeVm.REGION0_BASE + 8)
                    .run(honest.dirtyLog, 4096);
            assertThat(ok.trustworthy()).isTrue();
            assertThat(ok.toString()).isEqualTo("passed (2 probes)");
            assertThat(honest.memory.readU64(probe)).isEqualTo(before);

            lying.dirtyLog.start();
            DirtyLogSelfTest.Result bad = new DirtyLogSelfTest(lying.memory, lying::guestWrite, probe, FakeVm.REGION0_BASE + 8)
                    .run(lying.dirtyLog, 4096);
            assertThat(bad.trustworthy()).isFalse();
            assertThat(bad.missed()).isEqualTo(1);
            assertThat(bad.toString()).isEqualTo("failed (1 of 2 guest writes not logged)");

            assertThatThrownBy(() -> new DirtyLogSelfTest(honest.memory, honest::guestWrite, 3))
                    .hasMessageContaining("not an aligned word of guest RAM");
            assertThatThrownBy(() -> new DirtyLogSelfTest(honest.memory, (gpa, v) -> { }, 64).run(honest.dirtyLog, 4096))
                    .hasMessageContaining("did not store the probe");
        }
    }
}
