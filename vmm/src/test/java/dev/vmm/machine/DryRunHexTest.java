package dev.vmm.machine;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** DryRun.hex prints what String.format's %#014x and %#x printed before it replaced them (#19: Formatter was slow interpreted). */
class DryRunHexTest {
    @ParameterizedTest
    @ValueSource(longs = {0, 1, 0x9fbff, 0xfffff, 0xfed00000L, 0xffffffffL, 0x10000000L, 0x1_0000_0000L, 0xfff_ffff_ffffL,
            0x1000_0000_0000L, 0x7fff_ffff_ffff_ffffL, -1})
    void sameAsFormatter(long v) {
        assertEquals(String.format("%#014x", v), DryRun.hex(v, 14));
        assertEquals(String.format("%#x", v), DryRun.hex(v, 0));
    }
}
