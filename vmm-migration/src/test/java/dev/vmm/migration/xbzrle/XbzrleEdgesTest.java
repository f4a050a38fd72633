package dev.vmm.migration.xbzrle;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Edges the mutation run (docs/testing.md) found unasserted: the ULEB128 size at each 7-bit
 * boundary, the page cache's argument checks, the slot {@code put} returns, and a closed or
 * resized-after-close cache.
 */
class XbzrleEdgesTest {
    @Test
    void uleb128SizeAtEverySevenBitBoundary() {
        // ULEB128 carries 7 bits per byte: the size grows at 2^7, 2^14, 2^21, 2^28.
        int[] bounds = {1 << 7, 1 << 14, 1 << 21, 1 << 28};
        assertThat(Xbzrle.uleb128Size(0)).isEqualTo(1);
        for (int i = 0; i < bounds.length; i++) {
            assertThat(Xbzrle.uleb128Size(bounds[i] - 1)).as("2^%d - 1", 7 * (i + 1)).isEqualTo(i + 1);
            assertThat(Xbzrle.uleb128Size(bounds[i])).as("2^%d", 7 * (i + 1)).isEqualTo(i + 2);
        }
        assertThat(Xbzrle.uleb128Size(Integer.MAX_VALUE)).isEqualTo(5);
        assertThatThrownBy(() -> Xbzrle.uleb128Size(-1)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void pageSizeMustBePositive() {
        assertThatThrownBy(() -> new PageCache(4096, 0)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("page size");
        assertThatThrownBy(() -> new PageCache(4096, -1)).isInstanceOf(IllegalArgumentException.class);
        try (PageCache one = new PageCache(1, 1)) {
            assertThat(one.capacityPages()).isEqualTo(1);
        }
    }

    @Test
    void putReturnsTheSlotHoldingThePage() {
        try (PageCache c = new PageCache(3 * 64, 64)) {
            byte[][] pages = new byte[3][64];
            int[] slots = new int[3];
            for (int i = 0; i < 3; i++) {
                Arrays.fill(pages[i], (byte) (i + 1));
                slots[i] = c.put(100 + i, MemorySegment.ofArray(pages[i]), 0);
            }
            assertThat(slots).doesNotHaveDuplicates();
            for (int i = 0; i < 3; i++) {
                assertThat(c.page(slots[i]).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).isEqualTo(pages[i]);
                assertThat(c.lookup(100 + i)).isEqualTo(slots[i]);
            }
            byte[] again = new byte[64];
            Arrays.fill(again, (byte) 9);
            assertThat(c.put(101, MemorySegment.ofArray(again), 0)).as("the same page frame keeps its slot").isEqualTo(slots[1]);
            assertThat(c.page(slots[1]).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).isEqualTo(again);
        }
    }

    @Test
    void closedCacheIsEmptyAndRefusesWork() {
        PageCache c = new PageCache(2 * 64, 64);
        c.put(1, MemorySegment.ofArray(new byte[64]), 0);
        assertThat(c.size()).isEqualTo(1);
        c.close();
        assertThat(c.size()).isZero();
        assertThatThrownBy(() -> c.resize(4 * 64)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> c.put(2, MemorySegment.ofArray(new byte[64]), 0)).isInstanceOf(IllegalStateException.class);
        c.close(); // twice: nothing happens
    }
}
