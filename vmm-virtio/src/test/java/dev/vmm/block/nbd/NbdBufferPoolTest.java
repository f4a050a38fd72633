package dev.vmm.block.nbd;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link NbdBufferPool}: sizes, alignment, which buffers come back, and the cap on what is kept. */
class NbdBufferPoolTest {
    @Test
    void buffersAreExactlyTheAskedSizeAndPageAligned() {
        NbdBufferPool pool = new NbdBufferPool();
        NbdBufferPool.Buffer small = pool.take(100);
        assertThat(small.data().byteSize()).isEqualTo(100);
        assertThat(small.whole().byteSize()).isEqualTo(NbdBufferPool.POOLED_SIZE);
        assertThat(small.whole().address() % 4096).isZero();
        NbdBufferPool.Buffer exact = pool.take(NbdBufferPool.POOLED_SIZE);
        assertThat(exact.whole().byteSize()).isEqualTo(NbdBufferPool.POOLED_SIZE);
        NbdBufferPool.Buffer big = pool.take(NbdBufferPool.POOLED_SIZE + 1L);
        assertThat(big.data().byteSize()).isEqualTo(NbdBufferPool.POOLED_SIZE + 1L);
        assertThat(big.whole()).isSameAs(big.data());
        assertThat(big.whole().address() % 4096).isZero();
    }

    @Test
    void pooledBuffersAreReusedAndLargeOnesAreNot() {
        NbdBufferPool pool = new NbdBufferPool();
        NbdBufferPool.Buffer a = pool.take(10);
        pool.give(a);
        assertThat(pool.take(20).whole().address()).isEqualTo(a.whole().address());
        NbdBufferPool.Buffer big = pool.take(NbdBufferPool.POOLED_SIZE + 1L);
        pool.give(big);
        pool.give(null);
        assertThat(pool.take(NbdBufferPool.POOLED_SIZE + 1L).whole().address()).isNotEqualTo(big.whole().address());
        assertThat(pool.take(10).whole().byteSize()).as("a fresh pooled-size buffer, not the big one").isEqualTo(NbdBufferPool.POOLED_SIZE);
    }

    @Test
    void atMost64AreKept() {
        NbdBufferPool pool = new NbdBufferPool();
        List<NbdBufferPool.Buffer> taken = new ArrayList<>();
        for (int i = 0; i < 65; i++) taken.add(pool.take(1));
        taken.forEach(pool::give);
        Set<Long> given = new HashSet<>();
        taken.forEach(b -> given.add(b.whole().address()));
        Set<Long> back = new HashSet<>();
        for (int i = 0; i < 65; i++) back.add(pool.take(1).whole().address());
        back.retainAll(given);
        assertThat(back).as("64 of the 65 come back, one was dropped").hasSize(64);
    }
}
