package dev.vmm.block.nbd;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link ReadCoverage}: disjoint ranges in any order, every kind of overlap refused, the total. */
class ReadCoverageTest {
    @Test
    void disjointRangesInAnyOrderAddUp() {
        ReadCoverage c = new ReadCoverage();
        assertThat(c.add(20, 30)).isTrue();
        assertThat(c.add(0, 10)).isTrue();
        assertThat(c.add(10, 20)).as("the gap between two ranges, touching both").isTrue();
        assertThat(c.add(30, 31)).isTrue();
        assertThat(c.total()).isEqualTo(31);
    }

    @Test
    void everyOverlapIsRefusedAndChangesNothing() {
        ReadCoverage c = new ReadCoverage();
        assertThat(c.add(100, 200)).isTrue();
        assertThat(c.add(50, 101)).as("ends inside").isFalse();
        assertThat(c.add(199, 250)).as("starts inside").isFalse();
        assertThat(c.add(100, 200)).as("the same").isFalse();
        assertThat(c.add(120, 130)).as("within").isFalse();
        assertThat(c.add(0, 300)).as("around").isFalse();
        assertThat(c.total()).isEqualTo(100);
        assertThat(c.add(50, 100)).as("touching before").isTrue();
        assertThat(c.add(200, 210)).as("touching after").isTrue();
        assertThat(c.add(49, 51)).isFalse();
        assertThat(c.add(209, 211)).isFalse();
        assertThat(c.total()).isEqualTo(160);
    }
}
