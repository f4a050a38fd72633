package dev.vmm.virtio.pci;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class VirtioPciLayoutTest {
    @Test
    void smallDeviceFitsIn32KiB() {
        var l = VirtioPciLayout.of(2, 8, 3);
        assertThat(l.notifyOffset()).isEqualTo(0x3000);
        assertThat(l.msixTableOffset()).isEqualTo(0x4000);
        assertThat(l.msixPbaOffset()).isEqualTo(0x5000);
        assertThat(l.barSize()).isEqualTo(0x8000);
        assertThat(l.notifyLength()).isEqualTo(8);
    }

    @Test
    void manyQueuesVectorsAndALargeConfigGrowTheBar() {
        var l = VirtioPciLayout.of(1500, 0x1800, 1501);
        assertThat(l.notifyOffset()).isEqualTo(0x2000 + 0x2000);
        assertThat(l.msixTableOffset()).isEqualTo(l.notifyOffset() + 0x2000);             // 6000 bytes of notify → 2 pages
        assertThat(l.msixPbaOffset()).isEqualTo(l.msixTableOffset() + 0x6000);            // 1501 × 16 bytes → 6 pages
        assertThat(l.msixPbaOffset() + 8 * ((1501 + 63) / 64)).isLessThanOrEqualTo(l.barSize());
        assertThat(Long.bitCount(l.barSize())).isEqualTo(1);
        assertThat(l.barSize()).isEqualTo(0x10000);
    }

    @Test
    void rejectsImpossibleShapes() {
        assertThatThrownBy(() -> VirtioPciLayout.of(-1, 0, 1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> VirtioPciLayout.of(1, 0x2_0000, 1)).isInstanceOf(IllegalArgumentException.class);
    }
}
