package dev.vmm.memory;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Guest memory's promise: every accessor stays inside one region. Two regions with a hole between
 * them (as below and above the PCI hole), accesses at each edge, straddling the hole, past the end.
 */
class GuestMemoryTest {
    private final Arena arena = Arena.ofAuto();
    private final MemorySegment low = arena.allocate(0x2000, 4096), high = arena.allocate(0x1000, 4096);
    private final GuestMemory mem = new GuestMemory(List.of(new GuestRegion(1, 0x10000, high), new GuestRegion(0, 0, low)));

    @Test
    void littleEndianValuesLandWhereTheGuestSeesThem() {
        mem.writeU64(0x1ff8, 0x0807060504030201L);
        assertThat(low.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0x1ff8)).isEqualTo((byte) 1);
        assertThat(mem.readU32(0x1ffc)).isEqualTo(0x08070605);
        assertThat(mem.readU16(0x1ff9)).isEqualTo((short) 0x0302);
        mem.writeU16(0x10000, (short) 0xbeef);
        assertThat(mem.readU8(0x10001)).isEqualTo((byte) 0xbe);
        mem.writeU32(0x10ffc, 0xcafef00d);
        assertThat(mem.readU64(0x10ff8) >>> 32).isEqualTo(0xcafef00dL);
        byte[] b = {1, 2, 3};
        mem.write(0x10100, b);
        byte[] back = new byte[5];
        mem.read(0x100ff, back, 1, 4);
        assertThat(back).containsExactly(0, 0, 1, 2, 3);
        MemorySegment src = MemorySegment.ofArray(new byte[] {9, 8, 7, 6});
        mem.copyIn(src, 1, 0x20, 3);
        MemorySegment dst = MemorySegment.ofArray(new byte[4]);
        mem.copyOut(0x1f, dst, 0, 4);
        assertThat(dst.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).containsExactly(0, 8, 7, 6);
        assertThat(mem.hostAddress(0x10010, 16)).isEqualTo(high.address() + 0x10);
    }

    @Test
    void everyAccessorRefusesWhatLeavesARegion() {
        byte[] four = new byte[4];
        MemorySegment seg = MemorySegment.ofArray(four);
        List<Executable> outside = List.of(
                () -> mem.readU8(0x2000), () -> mem.readU16(0x1fff), () -> mem.readU32(0x1ffd), () -> mem.readU64(0x1ff9),
                () -> mem.writeU8(0x11000, (byte) 0), () -> mem.writeU16(0x10fff, (short) 0),
                () -> mem.writeU32(0xfffe, 0), () -> mem.writeU64(0x10ff9, 0),
                () -> mem.read(0x1ffe, four, 0, 4), () -> mem.write(0x10ffe, four, 0, 4), () -> mem.write(0x1ffd, seg),
                () -> mem.copyIn(seg, 0, 0x1ffe, 4), () -> mem.copyOut(0x10ffe, seg, 0, 4),
                () -> mem.hostAddress(0x1fff, 2), () -> mem.slice(0x3000, 1), () -> mem.readU64(-4));
        for (Executable e : outside) {
            assertThatThrownBy(e::execute).isInstanceOf(GuestMemoryException.class);
        }
        assertThat(low.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).containsOnly(0);
        assertThat(high.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).containsOnly(0);
    }
}
