package dev.vmm.chipset.smbios;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Field encodings at their limits, read back from the raw structures with the layouts of the SMBIOS
 * specification (DMTF DSP0134 3.x: 7.5 Processor Information, 7.17 Physical Memory Array, 7.20
 * Memory Array Mapped Address, 7.2 System Information), and the {@code --smbios} value limits.
 * (SmbiosTest has dmidecode decode whole tables; here are the boundaries dmidecode prints alike.)
 */
class SmbiosLimitsTest {
    static final long GIB = 1L << 30;

    /** The formatted areas of every structure of {@code type}, in table order. */
    static List<ByteBuffer> structures(SmbiosTables t, int type) {
        byte[] s = t.structures();
        List<ByteBuffer> out = new ArrayList<>();
        int at = 0;
        while (at < s.length) {
            int len = s[at + 1] & 0xff;
            if ((s[at] & 0xff) == type)
                out.add(ByteBuffer.wrap(s, at, len).slice().order(ByteOrder.LITTLE_ENDIAN));
            int end = at + len;
            while (s[end] != 0 || s[end + 1] != 0) end++;      // the string set ends with two NULs
            at = end + 2;
        }
        return out;
    }

    static ByteBuffer first(SmbiosTables t, int type) {
        return structures(t, type).getFirst();
    }

    static SmbiosTables.Builder oneGib() {
        return SmbiosTables.builder().ram(0, GIB);
    }

    @Test
    void processorCountsAndCharacteristicsFollowTheTopology() {
        // 7.5: core count 0x23, core enabled 0x24, thread count 0x25; characteristics 0x26:
        // bit 2 64-bit capable, bit 3 multi-core, bit 4 hardware thread.
        ByteBuffer single = first(oneGib().cpus(1, 1, 1).build(), 4);
        assertThat(single.get(0x25)).isEqualTo((byte) 1);
        assertThat(single.getShort(0x26)).isEqualTo((short) 0x04);
        ByteBuffer smt = first(oneGib().cpus(1, 1, 2).build(), 4);
        assertThat(smt.get(0x25)).isEqualTo((byte) 2);
        assertThat(smt.getShort(0x26)).isEqualTo((short) 0x14);
        ByteBuffer multi = first(oneGib().cpus(1, 2, 1).build(), 4);
        assertThat(multi.get(0x23)).isEqualTo((byte) 2);
        assertThat(multi.getShort(0x26)).isEqualTo((short) 0x0c);
        ByteBuffer both = first(oneGib().cpus(2, 2, 3).build(), 4);
        assertThat(both.get(0x23)).isEqualTo((byte) 2);
        assertThat(both.get(0x25)).isEqualTo((byte) 6);
        assertThat(both.getShort(0x26)).isEqualTo((short) 0x1c);
        // A thread count above 255 saturates (the byte field's largest value; 2.x has no Thread Count 2 here).
        assertThat(first(oneGib().cpus(1, 200, 2).build(), 4).get(0x25) & 0xff).isEqualTo(255);
    }

    @Test
    void theProcessorIdIsCpuidLeafOneEaxThenEdx() {
        ByteBuffer p = first(oneGib().cpuid(0x1_000a_0655L, 0xffff_ffff_1234_5678L).build(), 4);
        assertThat(p.getInt(8)).isEqualTo(0x000a_0655);
        assertThat(p.getInt(12)).isEqualTo(0x1234_5678);
    }

    @Test
    void topologyLimitsAre1To255Each() {
        assertThatCode(() -> oneGib().cpus(255, 255, 255)).doesNotThrowAnyException();
        assertThatCode(() -> oneGib().cpus(1, 1, 1)).doesNotThrowAnyException();
        for (int[] bad : new int[][] {{0, 1, 1}, {256, 1, 1}, {1, 0, 1}, {1, 256, 1}, {1, 1, 0}, {1, 1, 256}})
            assertThatThrownBy(() -> oneGib().cpus(bad[0], bad[1], bad[2])).as("%d/%d/%d", bad[0], bad[1], bad[2])
                    .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void maximumCapacityIsInKibUpTo2TibThenExtended() {
        // 7.17: Maximum Capacity (0x07, KiB); 8000_0000h means "see Extended Maximum Capacity" (0x0f, bytes).
        ByteBuffer small = first(SmbiosTables.builder().ram(0, 20 * GIB).build(), 16);
        assertThat(small.getInt(7)).isEqualTo((int) (20 * GIB >>> 10));
        ByteBuffer below = first(SmbiosTables.builder().ram(0, 2048 * GIB - 1024).build(), 16);
        assertThat(below.getInt(7)).isEqualTo(0x7fff_ffff);
        ByteBuffer at = first(SmbiosTables.builder().ram(0, 2048 * GIB).build(), 16);
        assertThat(at.getInt(7)).isEqualTo(0x8000_0000);
        assertThat(at.getLong(0x0f)).isEqualTo(2048 * GIB);
    }

    @Test
    void aRangeEndingAbove4TibUsesTheExtendedAddresses() {
        // 7.20: Starting/Ending Address in KiB (0x04/0x08); FFFF_FFFFh in Starting Address means the
        // Extended Starting/Ending Address (0x0f/0x17, bytes, ending inclusive).
        long base = 4 * GIB, size = 4096 * GIB;
        SmbiosTables t = SmbiosTables.builder().ram(0, 2 * GIB).ram(base, size).build();
        List<ByteBuffer> maps = structures(t, 19);
        assertThat(maps).hasSize(2);
        assertThat(maps.get(0).getInt(4)).isZero();
        assertThat(maps.get(0).getInt(8)).isEqualTo((int) ((2 * GIB >>> 10) - 1));
        ByteBuffer high = maps.get(1);
        assertThat(high.getInt(4)).isEqualTo(-1);
        assertThat(high.getInt(8)).isEqualTo(-1);
        assertThat(high.getLong(0x0f)).isEqualTo(base);
        assertThat(high.getLong(0x17)).isEqualTo(base + size - 1);
    }

    @Test
    void theUuidHasItsFirstThreeFieldsLittleEndian() {
        // 7.2.1: time_low, time_mid and time_hi_and_version little-endian; clock_seq and node as is.
        UUID u = UUID.fromString("00112233-4455-6677-8899-aabbccddeeff");
        ByteBuffer sys = first(oneGib().uuid(u).build(), 1);
        byte[] got = new byte[16];
        sys.get(8, got);
        assertThat(got).containsExactly(0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66,
                0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff);
    }

    @Test
    void aStringUsedTwiceInOneStructureIsStoredOnce() {
        // 6.1.3: fields refer to strings by number; the first string of the set is number 1.
        SmbiosTables t = oneGib().apply(SmbiosSpec.parse("type=1,manufacturer=Same,product=Same,serial=Other")).build();
        ByteBuffer sys = first(t, 1);
        assertThat(sys.get(4)).isEqualTo((byte) 1);
        assertThat(sys.get(5)).isEqualTo((byte) 1);
        assertThat(sys.get(7)).isEqualTo((byte) 2);
    }

    @Test
    void ramRangesMustBeNonEmptyAndNotNegative() {
        assertThatCode(() -> SmbiosTables.builder().ram(0, 1)).doesNotThrowAnyException();
        assertThatThrownBy(() -> SmbiosTables.builder().ram(0x1000, 0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> SmbiosTables.builder().ram(-1, GIB)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void theTwoXEntryPointTakesAnyTableAddressBelow4Gib() {
        SmbiosTables t = oneGib().build();
        assertThat(ByteBuffer.wrap(t.entryPoint21(0xffff_ffffL)).order(ByteOrder.LITTLE_ENDIAN).getInt(0x18)).isEqualTo(-1);
        assertThatCode(() -> t.entryPoint21(0)).doesNotThrowAnyException();
        assertThatThrownBy(() -> t.entryPoint21(-1)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void specValuesAtTheirLimits() {
        String max = "x".repeat(SmbiosSpec.MAX_STRING);
        for (String ok : new String[] {"type=0,release=254.254", "type=0,release=0.0", "type=4,max-speed=65534",
                "type=17,speed=0", "type=1,product=" + max, "type=1,product= ~"}) {
            assertThatCode(() -> SmbiosSpec.parse(ok)).as(ok).doesNotThrowAnyException();
        }
        for (String bad : new String[] {"type=0,release=255.0", "type=0,release=0.255", "type=4,current-speed=65535",
                "type=1,product=" + max + "x", "type=1,product=a\u007f", "type=1,product=a\u001f", "type=1,=x",
                "type=1,product=a,"}) {
            assertThatThrownBy(() -> SmbiosSpec.parse(bad)).as(bad).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("--smbios");
        }
        // A doubled comma at the very end is a literal comma in the value.
        assertThat(SmbiosSpec.parse("type=1,product=a,,").get("product")).isEqualTo("a,");
        // An unknown key is answered with the keys the type has.
        assertThatThrownBy(() -> SmbiosSpec.parse("type=3,color=red")).hasMessageContaining("manufacturer");
    }
}
