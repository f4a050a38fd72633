package dev.vmm.chipset.bus;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A wider access to 8-bit ISA registers is split into byte cycles, lowest address first, and the
 * bytes are assembled little-endian (x86 byte order), as {@link ByteRegisterDevice} promises.
 */
class ByteRegisterDeviceTest {
    /** Eight registers holding 0x11, 0x22 ... 0x88; logs every byte cycle. */
    static final class Registers implements ByteRegisterDevice {
        final int[] regs = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
        final List<String> cycles = new ArrayList<>();

        @Override public int readByte(long offset) {
            cycles.add("r" + offset);
            return regs[(int) offset];
        }

        @Override public void writeByte(long offset, int value) {
            cycles.add("w" + offset + "=" + Integer.toHexString(value));
            regs[(int) offset] = value;
        }
    }

    @Test
    void aByteAccessIsOneCycle() {
        Registers d = new Registers();
        assertThat(d.read(3, 1)).isEqualTo(0x44);
        d.write(5, 1, 0xabcd);               // only the low byte reaches the register
        assertThat(d.cycles).containsExactly("r3", "w5=cd");
        assertThat(d.regs[5]).isEqualTo(0xcd);
    }

    @Test
    void widerReadsAreByteCyclesLowestAddressFirstAssembledLittleEndian() {
        Registers d = new Registers();
        assertThat(d.read(1, 2)).isEqualTo(0x3322L);
        assertThat(d.cycles).containsExactly("r1", "r2");
        d.cycles.clear();
        assertThat(d.read(4, 4)).isEqualTo(0x8877_6655L);
        assertThat(d.cycles).containsExactly("r4", "r5", "r6", "r7");
        d.cycles.clear();
        // The top byte has bit 7 set: the value is zero-extended byte by byte, not sign-extended.
        assertThat(d.read(0, 8)).isEqualTo(0x8877_6655_4433_2211L);
        assertThat(d.cycles).hasSize(8).first().isEqualTo("r0");
    }

    @Test
    void widerWritesAreByteCyclesLowestAddressFirst() {
        Registers d = new Registers();
        d.write(2, 2, 0xfffe_a1b2L);          // bytes above the access size are not written
        assertThat(d.cycles).containsExactly("w2=b2", "w3=a1");
        assertThat(d.regs).containsExactly(0x11, 0x22, 0xb2, 0xa1, 0x55, 0x66, 0x77, 0x88);
        d.cycles.clear();
        d.write(0, 8, 0xf0e0_d0c0_b0a0_9080L);
        assertThat(d.cycles).containsExactly("w0=80", "w1=90", "w2=a0", "w3=b0", "w4=c0", "w5=d0", "w6=e0", "w7=f0");
    }
}
