package dev.vmm.migration.xbzrle;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PageCacheTest {
    private static final int PAGE = 64;

    private static MemorySegment page(int fill) {
        byte[] bytes = new byte[PAGE];
        java.util.Arrays.fill(bytes, (byte) fill);
        return MemorySegment.ofArray(bytes);
    }

    private static int firstByte(PageCache cache, int slot) {
        return cache.data().get(ValueLayout.JAVA_BYTE, cache.slotOffset(slot)) & 0xff;
    }

    @Test
    void storesCopiesAndCountsHitsAndMisses() {
        try (PageCache cache = new PageCache(4 * PAGE + 10, PAGE)) {
            assertThat(cache.capacityPages()).isEqualTo(4);
            assertThat(cache.lookup(7)).isEqualTo(-1);
            MemorySegment source = page(0x11);
            int slot = cache.put(7, source, 0);
            source.fill((byte) 0x22); // the cache holds a copy
            assertThat(cache.lookup(7)).isEqualTo(slot);
            assertThat(firstByte(cache, slot)).isEqualTo(0x11);
            assertThat(cache.page(slot).byteSize()).isEqualTo(PAGE);
            assertThat(cache.put(7, source, 0)).isEqualTo(slot); // overwrite in place
            assertThat(firstByte(cache, slot)).isEqualTo(0x22);
            assertThat(cache.hits()).isEqualTo(1);
            assertThat(cache.misses()).isEqualTo(1);
            assertThat(cache.size()).isEqualTo(1);
        }
    }

    @Test
    void evictsTheLeastRecentlyUsedPage() {
        try (PageCache cache = new PageCache(3 * PAGE, PAGE)) {
            cache.put(1, page(1), 0);
            cache.put(2, page(2), 0);
            cache.put(3, page(3), 0);
            cache.lookup(1);          // order (MRU first): 1 3 2
            cache.put(4, page(4), 0); // evicts 2
            assertThat(cache.contains(2)).isFalse();
            assertThat(cache.contains(1)).isTrue();
            cache.put(5, page(5), 0); // evicts 3
            assertThat(cache.contains(3)).isFalse();
            assertThat(cache.evictions()).isEqualTo(2);
            assertThat(firstByte(cache, cache.lookup(5))).isEqualTo(5);
            assertThat(firstByte(cache, cache.lookup(1))).isEqualTo(1);
            assertThat(firstByte(cache, cache.lookup(4))).isEqualTo(4);
        }
    }

    @Test
    void invalidateFreesTheSlot() {
        try (PageCache cache = new PageCache(2 * PAGE, PAGE)) {
            cache.put(1, page(1), 0);
            cache.put(2, page(2), 0);
            assertThat(cache.invalidate(1)).isTrue();
            assertThat(cache.invalidate(1)).isFalse();
            cache.put(3, page(3), 0); // takes the freed slot: nothing evicted
            assertThat(cache.contains(2)).isTrue();
            assertThat(cache.evictions()).isZero();
            cache.clear();
            assertThat(cache.size()).isZero();
            assertThat(cache.contains(2)).isFalse();
            cache.put(9, page(9), 0);
            assertThat(cache.contains(9)).isTrue();
        }
    }

    @Test
    void resizeKeepsTheMostRecentlyUsedPages() {
        try (PageCache cache = new PageCache(4 * PAGE, PAGE)) {
            for (int pfn = 1; pfn <= 4; pfn++) cache.put(pfn, page(pfn), 0);
            cache.lookup(2); // order: 2 4 3 1
            cache.resize(2 * PAGE);
            assertThat(cache.capacityPages()).isEqualTo(2);
            assertThat(cache.capacityBytes()).isEqualTo(2 * PAGE);
            assertThat(cache.contains(2)).isTrue();
            assertThat(cache.contains(4)).isTrue();
            assertThat(cache.contains(3)).isFalse();
            assertThat(firstByte(cache, cache.lookup(4))).isEqualTo(4); // order: 4 2
            cache.put(5, page(5), 0); // evicts 2, proving the order survived the resize
            assertThat(cache.contains(2)).isFalse();
            cache.resize(8 * PAGE);
            assertThat(cache.size()).isEqualTo(2);
            assertThat(firstByte(cache, cache.lookup(5))).isEqualTo(5);
        }
    }

    @Test
    void rejectsSizesBelowOnePage() {
        assertThatThrownBy(() -> new PageCache(PAGE - 1, PAGE)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("smaller than one 64-byte page");
        try (PageCache cache = new PageCache(PAGE, PAGE)) {
            assertThatThrownBy(() -> cache.resize(0)).isInstanceOf(IllegalArgumentException.class);
            assertThat(cache.capacityPages()).isEqualTo(1);
        }
    }

    @Test
    void closedCacheRefusesWrites() {
        PageCache cache = new PageCache(PAGE, PAGE);
        cache.close();
        assertThatThrownBy(() -> cache.put(1, page(1), 0)).isInstanceOf(IllegalStateException.class);
        cache.close(); // idempotent
    }

    @Test
    void behavesLikeAReferenceLruUnderRandomOperations() {
        int capacity = 37;
        Map<Long, Integer> reference = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<Long, Integer> eldest) { return size() > capacity; }
        };
        Random random = new Random(42);
        try (PageCache cache = new PageCache((long) capacity * PAGE, PAGE)) {
            for (int step = 0; step < 50_000; step++) {
                long pfn = random.nextInt(100) * 0x1000L; // aligned frames, a hard case for weak hashes
                int op = random.nextInt(10);
                if (op < 5) {
                    int slot = cache.lookup(pfn);
                    Integer expected = reference.get(pfn);
                    assertThat(slot >= 0).isEqualTo(expected != null);
                    if (expected != null) assertThat(firstByte(cache, slot)).isEqualTo(expected);
                } else if (op < 9) {
                    int value = random.nextInt(256);
                    cache.put(pfn, page(value), 0);
                    reference.put(pfn, value);
                } else {
                    assertThat(cache.invalidate(pfn)).isEqualTo(reference.remove(pfn) != null);
                }
                assertThat(cache.size()).isEqualTo(reference.size());
            }
        }
    }
}
