package dev.vmm.chipset.firmware;

import static dev.vmm.chipset.firmware.E820Map.Type.ACPI;
import static dev.vmm.chipset.firmware.E820Map.Type.RAM;
import static dev.vmm.chipset.firmware.E820Map.Type.RESERVED;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class E820MapTest {
    static final long MIB = 1L << 20, GIB = 1L << 30;

    @Test
    void builderSortsAndKeepsEntries() {
        E820Map map = E820Map.builder()
                .add(GIB * 4, GIB, RAM)
                .add(0x100000, 3 * GIB - 0x100000, RAM)
                .add(0, 0x9fc00, RAM)
                .add(0x9fc00, 0x400, RESERVED)
                .add(0xf0000, 0x10000, RESERVED)
                .add(3 * GIB, MIB, ACPI)
                .build();
        assertThat(map.entries()).extracting(E820Map.Entry::addr)
                .containsExactly(0L, 0x9fc00L, 0xf0000L, 0x100000L, 3 * GIB, 4 * GIB);
        assertThat(map.totalRam()).isEqualTo(0x9fc00 + 3 * GIB - 0x100000 + GIB);
        assertThat(map.find(0x9fc10).type()).isEqualTo(RESERVED);
        assertThat(map.find(0xa0000)).isNull();
        assertThat(map.find(4 * GIB + 5).type()).isEqualTo(RAM);
        assertThat(map.toString()).contains("[0x00000000000f0000-0x00000000000fffff] RESERVED");
    }

    @Test
    void typeCodes() {
        assertThat(E820Map.Type.RAM.code()).isEqualTo(1);
        assertThat(E820Map.Type.RESERVED.code()).isEqualTo(2);
        assertThat(E820Map.Type.ACPI.code()).isEqualTo(3);
        assertThat(E820Map.Type.NVS.code()).isEqualTo(4);
        assertThat(E820Map.Type.ofCode(3)).isEqualTo(ACPI);
        assertThatThrownBy(() -> E820Map.Type.ofCode(7)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void rejectsOverlapsAndDisorder() {
        assertThatThrownBy(() -> E820Map.builder().add(0, 0x2000, RAM).add(0x1000, 0x1000, RESERVED).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("overlapping");
        assertThatThrownBy(() -> new E820Map(List.of(
                new E820Map.Entry(0x2000, 0x1000, RAM), new E820Map.Entry(0, 0x1000, RAM))))
                .isInstanceOf(IllegalArgumentException.class);
        // Adjacent is fine.
        assertThat(E820Map.builder().add(0, 0x1000, RAM).add(0x1000, 0x1000, RAM).build().size()).isEqualTo(2);
    }

    @Test
    void rejectsEmptyAndWrappingRanges() {
        assertThatThrownBy(() -> new E820Map.Entry(0, 0, RAM)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new E820Map.Entry(-4096, 8192, RAM)).hasMessageContaining("wraps");
        // Ending exactly at 2^64 is allowed, but nothing can follow it.
        E820Map.Entry top = new E820Map.Entry(-4096, 4096, RESERVED);
        assertThat(top.end()).isZero();
        assertThatThrownBy(() -> new E820Map(List.of(top, new E820Map.Entry(0, 1, RAM))))
                .isInstanceOf(IllegalArgumentException.class);
        assertThat(E820Map.builder().add(0, 4096, RAM).add(-4096, 4096, RESERVED).build().size()).isEqualTo(2);
    }

    @Test
    void valueSemantics() {
        E820Map a = E820Map.builder().add(0, 4096, RAM).build();
        E820Map b = new E820Map(List.of(new E820Map.Entry(0, 4096, RAM)));
        assertThat(a).isEqualTo(b).hasSameHashCodeAs(b);
        assertThat(new E820Map(List.of()).entries()).isEmpty();
    }
}
