package dev.vmm.migration.xbzrle;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.assertj.core.api.Assertions.assertThat;

/** The source-side flow: miss, delta, unchanged, overflow, and a destination kept in step. */
class XbzrlePageEncoderTest {
    private static final int PAGE = 4096;

    @Test
    void sendsFullPagesOnMissAndOverflowAndDeltasOtherwise() throws Exception {
        byte[] guest = new byte[2 * PAGE];   // guest RAM: two pages
        byte[] destination = new byte[2 * PAGE];
        MemorySegment ram = MemorySegment.ofArray(guest);
        MemorySegment out = MemorySegment.ofArray(new byte[PAGE]);
        try (XbzrlePageEncoder encoder = new XbzrlePageEncoder(16 * PAGE, PAGE)) {
            guest[PAGE + 5] = 1;
            // First sight of page 1: full page from the snapshot.
            assertThat(encoder.encode(1, ram, PAGE, out, 0)).isEqualTo(XbzrlePageEncoder.CACHE_MISS);
            MemorySegment.copy(encoder.snapshot(), 0, MemorySegment.ofArray(destination), PAGE, PAGE);

            // Unchanged: nothing to send.
            assertThat(encoder.encode(1, ram, PAGE, out, 0)).isZero();

            // A few bytes change: a small delta, which the destination applies.
            guest[PAGE + 100] = 7;
            guest[PAGE + 4000] = 8;
            int n = encoder.encode(1, ram, PAGE, out, 0);
            assertThat(n).isEqualTo(7); // 64 01 07 (zrun 100, one byte), bb 1e 01 08 (zrun 3899, one byte)
            Xbzrle.decode(out, 0, n, MemorySegment.ofArray(destination), PAGE, PAGE);
            assertThat(destination).isEqualTo(guest);

            // Everything changes: overflow, full page, cache updated to it.
            for (int i = 0; i < PAGE; i++) guest[PAGE + i] = (byte) (i | 1);
            assertThat(encoder.encode(1, ram, PAGE, out, 0)).isEqualTo(XbzrlePageEncoder.OVERFLOW);
            MemorySegment.copy(encoder.snapshot(), 0, MemorySegment.ofArray(destination), PAGE, PAGE);

            // The next delta is against the page sent in full.
            guest[PAGE + 3] = 0;
            n = encoder.encode(1, ram, PAGE, out, 0);
            assertThat(n).isEqualTo(3);
            assertThat(out.get(ValueLayout.JAVA_BYTE, 0)).isEqualTo((byte) 3);
            Xbzrle.decode(out, 0, n, MemorySegment.ofArray(destination), PAGE, PAGE);
            assertThat(destination).isEqualTo(guest);

            XbzrleCacheStats stats = encoder.stats();
            assertThat(stats.cacheSize()).isEqualTo(16 * PAGE);
            assertThat(stats.cacheMiss()).isEqualTo(1);
            assertThat(stats.cacheHits()).isEqualTo(4);
            assertThat(stats.cacheMissRate()).isEqualTo(0.2);
            assertThat(stats.pages()).isEqualTo(2);
            assertThat(stats.bytes()).isEqualTo(10);
            assertThat(stats.overflow()).isEqualTo(1);
            assertThat(stats.unchanged()).isEqualTo(1);
            assertThat(stats.encodingRate()).isEqualTo(2.0 * PAGE / 10);
        }
    }

    @Test
    void aResizedCacheStillServesTheHottestPages() {
        MemorySegment ram = MemorySegment.ofArray(new byte[8 * PAGE]);
        MemorySegment out = MemorySegment.ofArray(new byte[PAGE]);
        try (XbzrlePageEncoder encoder = new XbzrlePageEncoder(8 * PAGE, PAGE)) {
            for (int pfn = 0; pfn < 8; pfn++) encoder.encode(pfn, ram, (long) pfn * PAGE, out, 0);
            encoder.resizeCache(2 * PAGE);
            assertThat(encoder.encode(7, ram, 7L * PAGE, out, 0)).isZero();
            assertThat(encoder.encode(0, ram, 0, out, 0)).isEqualTo(XbzrlePageEncoder.CACHE_MISS);
            assertThat(encoder.stats().cacheSize()).isEqualTo(2 * PAGE);
        }
    }
}
