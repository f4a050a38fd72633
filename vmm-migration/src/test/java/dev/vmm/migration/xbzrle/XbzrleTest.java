package dev.vmm.migration.xbzrle;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.HexFormat;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Hand-made examples whose encodings were worked out from the format description. */
class XbzrleTest {
    private static final int PAGE = 4096;

    private static byte[] hex(String s) { return HexFormat.of().parseHex(s.replace(" ", "")); }

    private static byte[] encode(byte[] old, byte[] neu, int limit) {
        byte[] dst = new byte[limit];
        int n = Xbzrle.encode(old, neu, dst, limit);
        return n < 0 ? null : Arrays.copyOf(dst, n);
    }

    /** Encodes, checks the exact bytes, then checks that decoding them onto old gives new. */
    private static void assertEncodes(byte[] old, byte[] neu, byte[] expected) throws XbzrleFormatException {
        byte[] delta = encode(old, neu, old.length + 16);
        assertThat(delta).isEqualTo(expected);
        byte[] page = old.clone();
        Xbzrle.decode(delta, delta.length, page);
        assertThat(page).isEqualTo(neu);
    }

    @Test
    void unchangedPageEncodesToNothing() throws Exception {
        byte[] old = new byte[PAGE];
        Arrays.fill(old, (byte) 0x5a);
        assertEncodes(old, old.clone(), new byte[0]);
        assertThat(Xbzrle.encode(old, old.clone(), new byte[0], 0)).isZero();
    }

    @Test
    void oneByteChangedAtTheStart() throws Exception {
        byte[] old = new byte[PAGE];
        byte[] neu = old.clone();
        neu[0] = 0x42;
        // zrun 0 (only the first run may be empty), nzrun 1 byte, trailing zero run implied.
        assertEncodes(old, neu, hex("00 01 42"));
    }

    @Test
    void oneByteChangedInTheMiddle() throws Exception {
        byte[] old = new byte[PAGE];
        byte[] neu = old.clone();
        neu[2048] = 0x42;
        // 2048 = 0x800: low seven bits 0x00 with the continuation bit, then 0x800 >> 7 = 0x10.
        assertEncodes(old, neu, hex("80 10 01 42"));
    }

    @Test
    void oneByteChangedAtTheEnd() throws Exception {
        byte[] old = new byte[PAGE];
        byte[] neu = old.clone();
        neu[PAGE - 1] = 0x42;
        // 4095 = 0xfff: 0x7f | 0x80, then 0xfff >> 7 = 0x1f.
        assertEncodes(old, neu, hex("ff 1f 01 42"));
    }

    @Test
    void qemuDocumentationExample() throws Exception {
        // The worked example of QEMU's docs/xbzrle.txt: 1001 equal bytes, 15 changed, 3 equal,
        // 1 changed, 1 equal, 1 changed, 3074 equal.
        byte[] old = new byte[PAGE];
        byte[] neu = new byte[PAGE];
        System.arraycopy(hex("05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 11 12 13 68 00 00 6b 00 6d"), 0, old, 1001, 21);
        System.arraycopy(hex("01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 68 00 00 67 00 69"), 0, neu, 1001, 21);
        assertEncodes(old, neu, hex("e9 07 0f 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 03 01 67 01 01 69"));
    }

    @Test
    void allChangedIsOneRunAndOverflowsAPageSizedLimit() throws Exception {
        byte[] old = new byte[PAGE];
        byte[] neu = new byte[PAGE];
        Arrays.fill(neu, (byte) 0xff);
        // 00 (empty first zero run), 80 20 (4096), then the 4096 new bytes: 4099 in all.
        ByteArrayOutputStream expected = new ByteArrayOutputStream();
        expected.writeBytes(hex("00 80 20"));
        expected.writeBytes(neu);
        assertEncodes(old, neu, expected.toByteArray());
        assertThat(encode(old, neu, 4099)).hasSize(4099);
        assertThat(Xbzrle.encode(old, neu, new byte[4098], 4098)).isEqualTo(Xbzrle.OVERFLOW);
        assertThat(Xbzrle.encode(old, neu, new byte[PAGE], PAGE - 1)).isEqualTo(Xbzrle.OVERFLOW);
    }

    @Test
    void alternatingBytesMakeManyShortRuns() throws Exception {
        byte[] old = new byte[16];
        byte[] neu = new byte[16];
        for (int i = 0; i < 16; i += 2) neu[i] = 1;
        // 00 01 01, then seven times 01 (one equal byte) 01 01 (one new byte); the last byte is
        // equal and belongs to the implied trailing zero run.
        byte[] expected = hex("00 01 01" + " 01 01 01".repeat(7));
        assertEncodes(old, neu, expected);
        assertThat(expected).hasSize(24);
        assertThat(encode(old, neu, 24)).isEqualTo(expected);
        assertThat(encode(old, neu, 23)).isNull();
        assertThat(encode(old, neu, 15)).isNull();
    }

    @Test
    void equalBytesInsideAChangedWordSplitTheRun() throws Exception {
        byte[] old = hex("00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00");
        byte[] neu = hex("00 00 00 11 22 00 33 00 00 00 00 00 00 00 00 44");
        assertEncodes(old, neu, hex("03 02 11 22 01 01 33 08 01 44"));
    }

    @Test
    void pageSizesThatAreNotMultiplesOfEight() throws Exception {
        byte[] old = new byte[13];
        byte[] neu = old.clone();
        neu[12] = 7;
        assertEncodes(old, neu, hex("0c 01 07"));
        neu[11] = 6;
        neu[0] = 5;
        assertEncodes(old, neu, hex("00 01 05 0a 02 06 07"));
        assertEncodes(new byte[0], new byte[0], new byte[0]);
    }

    @Test
    void largePagesUseLongerLengths() throws Exception {
        byte[] old = new byte[65536];
        byte[] neu = old.clone();
        neu[20000] = 1;
        // 20000 = 0x4e20 -> a0 9c 01
        assertEncodes(old, neu, hex("a0 9c 01 01 01"));
    }

    @Test
    void worksOnOffsetsWithinLargerSegments() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ram = arena.allocate(3 * PAGE);
            MemorySegment cache = arena.allocate(2 * PAGE + 5);
            MemorySegment out = arena.allocate(100);
            ram.set(java.lang.foreign.ValueLayout.JAVA_BYTE, PAGE + 10, (byte) 9);
            int n = Xbzrle.encode(cache, 5, ram, PAGE, PAGE, out, 50, 50);
            assertThat(n).isEqualTo(3);
            assertThat(out.asSlice(50, 3).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).isEqualTo(hex("0a 01 09"));
            Xbzrle.decode(out, 50, n, cache, 5, PAGE);
            assertThat(cache.asSlice(5, PAGE).mismatch(ram.asSlice(PAGE, PAGE))).isEqualTo(-1);
            assertThat(cache.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 4)).isZero(); // before the page: untouched
        }
    }

    @Test
    void shortRunsNeverTouchBytesOutsideThePageOrPastTheirEnd() throws Exception {
        // Pages sit between sentinel bytes; runs of 1..7 bytes at the start, middle and very end.
        byte[] buffer = new byte[8 + 64 + 8];
        java.util.Arrays.fill(buffer, (byte) 0x77);
        byte[] old = java.util.Arrays.copyOfRange(buffer, 8, 72);
        byte[] neu = old.clone();
        neu[0] = 1;
        neu[10] = 2; neu[11] = 3; neu[12] = 4;
        for (int i = 57; i < 64; i++) neu[i] = (byte) i;
        byte[] delta = new byte[64];
        int n = Xbzrle.encode(old, neu, delta, 63);
        assertThat(n).isPositive();
        MemorySegment segment = MemorySegment.ofArray(buffer);
        Xbzrle.decode(MemorySegment.ofArray(delta), 0, n, segment, 8, 64);
        assertThat(java.util.Arrays.copyOfRange(buffer, 8, 72)).isEqualTo(neu);
        assertThat(java.util.Arrays.copyOfRange(buffer, 0, 8)).containsOnly(0x77);
        assertThat(java.util.Arrays.copyOfRange(buffer, 72, 80)).containsOnly(0x77);
    }

    @Test
    void rejectsArgumentsOutsideTheSegments() {
        byte[] page = new byte[16];
        assertThatThrownBy(() -> Xbzrle.encode(page, new byte[8], new byte[16], 16)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Xbzrle.encode(page, page, new byte[4], 8)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> Xbzrle.decode(new byte[4], 5, page)).isInstanceOf(IndexOutOfBoundsException.class);
    }

    @Test
    void uleb128Sizes() {
        assertThat(Xbzrle.uleb128Size(0)).isEqualTo(1);
        assertThat(Xbzrle.uleb128Size(127)).isEqualTo(1);
        assertThat(Xbzrle.uleb128Size(128)).isEqualTo(2);
        assertThat(Xbzrle.uleb128Size(16383)).isEqualTo(2);
        assertThat(Xbzrle.uleb128Size(16384)).isEqualTo(3);
        assertThat(Xbzrle.uleb128Size(Integer.MAX_VALUE)).isEqualTo(5);
    }
}
