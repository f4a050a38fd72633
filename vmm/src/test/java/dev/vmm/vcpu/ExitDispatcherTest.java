package dev.vmm.vcpu;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.bus.BusDevice;
import dev.vmm.ffm.kvm.KvmIoctls;
import dev.vmm.ffm.kvm.KvmRun;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** PIO and MMIO exits, replayed into a kvm_run layout without KVM, reach the right device with the right values. */
class ExitDispatcherTest {
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Records accesses; reads answer base + offset + size so that each answer differs. */
    static final class Recorder implements BusDevice {
        final List<String> log = new ArrayList<>();
        final long answerBase;

        Recorder(long answerBase) { this.answerBase = answerBase; }

        @Override public long read(long offset, int size) {
            log.add("r " + offset + "/" + size);
            long v = answerBase + offset * 16 + size;
            return size == 8 ? v : v & ((1L << (8 * size)) - 1);
        }

        @Override public void write(long offset, int size, long value) {
            log.add("w " + offset + "/" + size + "=" + Long.toHexString(value));
        }
    }

    private final Arena arena = Arena.ofAuto();
    private final KvmRun run = KvmRun.over(arena.allocate(KvmRun.size() + 4096, 8));
    private final Bus pio = new Bus("pio"), mmio = new Bus("mmio");
    private final Recorder port = new Recorder(0x1000), region = new Recorder(0x1122334455667700L);
    private final ExitDispatcher exits = new ExitDispatcher(run, pio, mmio);

    ExitDispatcherTest() {
        pio.register(0x3f8, 8, port);
        mmio.register(0xfeb0_0000L, 0x1000, region);
    }

    @Test
    void stringOutWritesEachElementToTheSamePort() {
        MemorySegment data = run.recordIoExit(KvmIoctls.KVM_EXIT_IO_OUT, 2, 0x3f9, 3);
        data.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, (short) 0x1234);
        data.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 2, (short) 0xbeef);
        data.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 4, (short) 7);
        assertThat(run.exitReason()).isEqualTo(KvmIoctls.KVM_EXIT_IO);
        exits.io();
        assertThat(port.log).containsExactly("w 1/2=1234", "w 1/2=beef", "w 1/2=7");
    }

    @Test
    void inFillsTheDataAreaLittleEndianAndUnclaimedPortsReadAllOnes() {
        MemorySegment data = run.recordIoExit(KvmIoctls.KVM_EXIT_IO_IN, 4, 0x3fc, 2);
        exits.io();
        assertThat(port.log).containsExactly("r 4/4", "r 4/4");
        assertThat(data.get(U32, 0)).isEqualTo(0x1000 + 4 * 16 + 4);
        assertThat(data.get(U32, 4)).isEqualTo(0x1000 + 4 * 16 + 4);

        MemorySegment nothing = run.recordIoExit(KvmIoctls.KVM_EXIT_IO_IN, 1, 0x80, 1);
        exits.io();
        assertThat(nothing.get(ValueLayout.JAVA_BYTE, 0)).isEqualTo((byte) 0xff);
    }

    @Test
    void mmioReadsAndWritesOfEverySize() {
        for (int len : new int[] {1, 2, 4, 8}) {
            run.recordMmioExit(0xfeb0_0010L, len, true, 0x0102030405060708L);
            exits.mmio();
            run.recordMmioExit(0xfeb0_0020L, len, false, 0);
            exits.mmio();
            long expected = region.answerBase + 0x20 * 16 + len;
            if (len < 8) expected &= (1L << (8 * len)) - 1;
            long got = run.mmioData().get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
            if (len < 8) got &= (1L << (8 * len)) - 1;
            assertThat(got).as("read of %d bytes", len).isEqualTo(expected);
        }
        assertThat(region.log).containsExactly(
                "w 16/1=8", "r 32/1", "w 16/2=708", "r 32/2", "w 16/4=5060708", "r 32/4",
                "w 16/8=102030405060708", "r 32/8");
    }

    @Test
    void mmioLengthsKvmNeverSendsAreIgnored() {
        run.recordMmioExit(0xfeb0_0000L, 0, true, 1);
        exits.mmio();
        run.recordMmioExit(0xfeb0_0000L, 9, false, 0);
        exits.mmio();
        assertThat(region.log).isEmpty();
    }
}
