package dev.vmm.usb.xhci;

import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The controller's DMA over RAM of several regions, as a machine has (below and above a PCI hole,
 * or two regions back to back): buffers that straddle two adjacent regions are split at the region
 * end and reach both, a buffer that runs into the hole or starts below 0 is a {@link Dma.Fault}
 * (never the memory layer's own exception), and {@code valid} says the same before any access.
 */
class XhciDmaTest {
    // Region 0 at 0 and region 1 right behind it (back to back); region 2 after a hole.
    static final long R0 = 0x1000, R1_BASE = 0x1000, R1 = 0x1000, R2_BASE = 0x4000, R2 = 0x1000;

    final Arena arena = Arena.ofConfined();
    final GuestMemory memory = new GuestMemory(List.of(new GuestRegion(0, 0, arena.allocate(R0)),
            new GuestRegion(1, R1_BASE, arena.allocate(R1)), new GuestRegion(2, R2_BASE, arena.allocate(R2))));
    final Dma dma = new Dma(memory);

    @AfterEach
    void close() {
        arena.close();
    }

    @Test
    void aBufferAcrossTwoAdjacentRegionsIsSplitAndReachesBoth() {
        byte[] src = new byte[0x30];
        for (int i = 0; i < src.length; i++) src[i] = (byte) (i + 1);
        // 0x10 bytes before the region end, 0x20 after it; from offset 8 of the array.
        dma.write(R0 - 0x10, src, 8, 0x28);
        assertThat(memory.readU8(R0 - 0x10)).isEqualTo((byte) 9);
        assertThat(memory.readU8(R0 - 1)).isEqualTo((byte) 0x18);
        assertThat(memory.readU8(R1_BASE)).isEqualTo((byte) 0x19);
        assertThat(memory.readU8(R1_BASE + 0x17)).isEqualTo((byte) 0x30);
        assertThat(memory.readU8(R1_BASE + 0x18)).isZero();
        byte[] back = new byte[0x40];
        dma.read(R0 - 0x10, back, 4, 0x28);
        assertThat(java.util.Arrays.copyOfRange(back, 4, 4 + 0x28)).isEqualTo(java.util.Arrays.copyOfRange(src, 8, 0x30));
        assertThat(back[3]).isZero();
        assertThat(back[4 + 0x28]).isZero();
        assertThat(dma.valid(R0 - 0x10, 0x28)).isTrue();
        assertThat(dma.valid(0, R0 + R1)).as("both regions whole").isTrue();
    }

    @Test
    void intoTheHoleOrBelowZeroIsAFault() {
        assertThat(dma.valid(R1_BASE + R1 - 8, 8)).isTrue();
        assertThat(dma.valid(R1_BASE + R1 - 8, 9)).as("one byte into the hole").isFalse();
        assertThat(dma.valid(R1_BASE + R1, 1)).isFalse();
        assertThat(dma.valid(R2_BASE, R2)).isTrue();
        assertThat(dma.valid(R2_BASE + R2 - 1, 2)).isFalse();
        assertThat(dma.valid(-16, 16)).isFalse();
        assertThat(dma.valid(R2_BASE, 0)).as("nothing to reach").isTrue();
        byte[] b = new byte[16];
        assertThatThrownBy(() -> dma.read(R1_BASE + R1 - 8, b, 0, 16)).isInstanceOf(Dma.Fault.class).hasMessageContaining("0x2000");
        assertThatThrownBy(() -> dma.write(R1_BASE + R1 - 8, b, 0, 16)).isInstanceOf(Dma.Fault.class);
        for (long at : new long[] {R1_BASE + R1 - 2, R1_BASE + R1, -4, -16}) {
            assertThatThrownBy(() -> dma.readU32(at)).isInstanceOf(Dma.Fault.class);
            assertThatThrownBy(() -> dma.writeU32(at, 1)).isInstanceOf(Dma.Fault.class);
            assertThatThrownBy(() -> dma.readU64(at)).isInstanceOf(Dma.Fault.class);
            assertThatThrownBy(() -> dma.readTrb(at)).isInstanceOf(Dma.Fault.class);
            assertThatThrownBy(() -> dma.writeTrb(at, new Trb(1, 2, 3, at))).isInstanceOf(Dma.Fault.class);
        }
        // The last TRB of a region (TRBs are 16-byte aligned, regions page-aligned: none straddles two).
        dma.writeTrb(R0 - 16, new Trb(0x1122_3344_5566_7788L, 0x99, 0xAA, 0));
        assertThat(dma.readTrb(R0 - 16)).isEqualTo(new Trb(0x1122_3344_5566_7788L, 0x99, 0xAA, R0 - 16));
        assertThat(dma.readU32(R0 - 12)).isEqualTo(0x1122_3344);
        assertThat(dma.readU64(R0 - 8)).isEqualTo(0xAA_0000_0099L);
        dma.writeU32(R0 - 4, 0x5A);
        assertThat(memory.readU32(R0 - 4)).isEqualTo(0x5A);
    }
}
