package dev.vmm.chipset.bus;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class BusTest {
    /** Records accesses and answers reads with a fixed value. */
    static final class Recorder implements BusDevice {
        final long answer;
        final List<String> log = new ArrayList<>();

        Recorder(long answer) { this.answer = answer; }

        @Override public long read(long offset, int size) {
            log.add("r" + offset + "/" + size);
            return answer;
        }

        @Override public void write(long offset, int size, long value) {
            log.add("w" + offset + "/" + size + "=" + Long.toHexString(value));
        }
    }

    @Test
    void dispatchesWithOffsetRelativeToBase() {
        Bus bus = new Bus("pio");
        Recorder uart = new Recorder(0x42);
        bus.register(0x3f8, 8, uart);
        assertThat(bus.read(0x3fd, 1)).isEqualTo(0x42);
        assertThat(bus.write(0x3f8, 1, 0x41)).isTrue();
        assertThat(uart.log).containsExactly("r5/1", "w0/1=41");
    }

    @Test
    void findsTheRightRangeAmongMany() {
        Bus bus = new Bus("pio");
        Recorder a = new Recorder(1), b = new Recorder(2), c = new Recorder(3);
        bus.register(0x70, 2, b);
        bus.register(0x3f8, 8, c);
        bus.register(0x60, 5, a);
        assertThat(bus.find(0x60).device()).isSameAs(a);
        assertThat(bus.find(0x64).device()).isSameAs(a);
        assertThat(bus.find(0x65)).isNull();
        assertThat(bus.find(0x71).device()).isSameAs(b);
        assertThat(bus.find(0x72)).isNull();
        assertThat(bus.find(0x3ff).device()).isSameAs(c);
        assertThat(bus.find(0x400)).isNull();
        assertThat(bus.find(0)).isNull();
        assertThat(bus.ranges()).extracting(Bus.Range::base).containsExactly(0x60L, 0x70L, 0x3f8L);
    }

    @Test
    void rejectsOverlaps() {
        Bus bus = new Bus("pio");
        bus.register(0x3f8, 8, new Recorder(0));
        assertThatThrownBy(() -> bus.register(0x3f8, 1, new Recorder(0)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("overlaps");
        assertThatThrownBy(() -> bus.register(0x3f0, 9, new Recorder(0)))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> bus.register(0x3ff, 4, new Recorder(0)))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> bus.register(0x3f0, 0x100, new Recorder(0)))
                .isInstanceOf(IllegalArgumentException.class);
        // Touching ranges are fine.
        bus.register(0x3f0, 8, new Recorder(0));
        bus.register(0x400, 8, new Recorder(0));
        assertThat(bus.ranges()).hasSize(3);
    }

    @Test
    void rejectsEmptyRanges() {
        Bus bus = new Bus("mmio");
        assertThatThrownBy(() -> bus.register(0x1000, 0, new Recorder(0)))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void rangesHighInTheUnsignedSpaceWork() {
        Bus bus = new Bus("mmio");
        Recorder hi = new Recorder(7);
        bus.register(0xffff_ffff_ffff_f000L, 0x1000, hi);
        Recorder lo = new Recorder(8);
        bus.register(0x1000, 0x1000, lo);
        assertThat(bus.find(0xffff_ffff_ffff_ffffL).device()).isSameAs(hi);
        assertThat(bus.find(0x8000_0000_0000_0000L)).isNull();
        assertThat(bus.find(0x1fff).device()).isSameAs(lo);
    }

    @Test
    void unregisterRemovesOnlyTheMatchingDevice() {
        Bus bus = new Bus("pio");
        Recorder a = new Recorder(1), b = new Recorder(2);
        bus.register(0x60, 1, a);
        bus.register(0x64, 1, b);
        assertThat(bus.unregister(0x60, b)).isFalse();
        assertThat(bus.unregister(0x61, a)).isFalse();
        assertThat(bus.unregister(0x60, a)).isTrue();
        assertThat(bus.find(0x60)).isNull();
        assertThat(bus.find(0x64).device()).isSameAs(b);
        assertThat(bus.unregister(0x60, a)).isFalse();
        // The freed range can be claimed again.
        bus.register(0x60, 1, b);
        assertThat(bus.find(0x60).device()).isSameAs(b);
    }

    @Test
    void unclaimedReadsAreAllOnesAndWritesAreDropped() {
        Bus bus = new Bus("pio");
        assertThat(bus.read(0x80, 1)).isEqualTo(0xffL);
        assertThat(bus.read(0x80, 2)).isEqualTo(0xffffL);
        assertThat(bus.read(0x80, 4)).isEqualTo(0xffff_ffffL);
        assertThat(bus.read(0x80, 8)).isEqualTo(-1L);
        assertThat(bus.write(0x80, 1, 0)).isFalse();
    }

    @Test
    void unregisteringAMiddleRangeKeepsBothNeighbours() {
        Bus bus = new Bus("pio");
        Recorder a = new Recorder(1), b = new Recorder(2), c = new Recorder(3);
        bus.register(0x60, 1, a);
        bus.register(0x64, 1, b);
        bus.register(0x70, 2, c);
        assertThat(bus.unregister(0x64, b)).isTrue();
        assertThat(bus.ranges()).extracting(Bus.Range::device).containsExactly(a, c);
        assertThat(bus.read(0x60, 1)).isEqualTo(1);
        assertThat(bus.read(0x71, 1)).isEqualTo(3);
    }

    @Test
    void aRangeThatWrapsPastTheTopIsRefused() {
        Bus bus = new Bus("mmio");
        assertThatThrownBy(() -> bus.register(0xffff_ffff_ffff_f000L, 0x2000, new Recorder(0)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("wraps");
        // One that ends exactly at the top of the address space does not wrap, nor does one across 2^63.
        bus.register(0xffff_ffff_ffff_f000L, 0x1000, new Recorder(0));
        Recorder mid = new Recorder(5);
        bus.register(0x7fff_ffff_ffff_f000L, 0x2000, mid);
        assertThat(bus.find(0x8000_0000_0000_0fffL).device()).isSameAs(mid);
        assertThat(bus.ranges()).hasSize(2);
    }
}
