package dev.vmm.migration.xbzrle;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.HexFormat;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Every way a delta from the wire can be malformed is rejected with a clear message. */
class XbzrleMalformedDeltaTest {
    private static final int PAGE = 16;

    private static byte[] hex(String s) { return HexFormat.of().parseHex(s.replace(" ", "")); }

    private static void assertRejected(String delta, String message, long offset) {
        byte[] bytes = hex(delta);
        byte[] page = new byte[PAGE];
        Arrays.fill(page, (byte) 0xee);
        assertThatThrownBy(() -> Xbzrle.validate(MemorySegment.ofArray(bytes), 0, bytes.length, PAGE))
                .isInstanceOf(XbzrleFormatException.class)
                .hasMessageContaining(message)
                .satisfies(e -> assertThat(((XbzrleFormatException) e).deltaOffset()).isEqualTo(offset));
        assertThatThrownBy(() -> Xbzrle.decode(bytes, bytes.length, page))
                .isInstanceOf(XbzrleFormatException.class)
                .hasMessageContaining(message);
    }

    @Test
    void truncatedZeroRunLength() {
        assertRejected("80", "truncated ULEB128", 0);
        assertRejected("00 01 aa ff", "truncated ULEB128", 3);
    }

    @Test
    void truncatedNonZeroRunLength() {
        assertRejected("00 80", "truncated ULEB128", 1);
    }

    @Test
    void uleb128Overflow() {
        assertRejected("ff ff ff ff 0f", "ULEB128 length overflows", 0); // 2^32 - 1
        assertRejected("ff ff ff ff ff 01", "ULEB128 length overflows (more than 5 bytes)", 0);
        assertRejected("00 ff ff ff ff 7f", "ULEB128 length overflows", 1);
    }

    @Test
    void zeroRunPastThePageEnd() {
        assertRejected("11 01 aa", "zero run of 17 bytes at page offset 0 passes the end of the 16-byte page", 0);
        assertRejected("00 01 aa 10 01 bb", "zero run of 16 bytes at page offset 1", 3);
    }

    @Test
    void nonZeroRunPastThePageEnd() {
        assertRejected("00 11" + " aa".repeat(17), "non-zero run of 17 bytes at page offset 0 passes the end", 1);
        assertRejected("10 01 aa", "non-zero run of 1 bytes at page offset 16", 1);
        assertRejected("0f 02 aa bb", "non-zero run of 2 bytes at page offset 15", 1);
    }

    @Test
    void nonZeroRunLongerThanTheDelta() {
        assertRejected("00 05 aa bb", "non-zero run of 5 bytes but only 2 left in the delta", 1);
    }

    @Test
    void emptyNonZeroRun() {
        assertRejected("00 00", "non-zero run of length 0", 1);
        assertRejected("03 00 01 aa", "non-zero run of length 0", 1);
    }

    @Test
    void emptyZeroRunAfterTheFirst() {
        assertRejected("00 01 aa 00 01 bb", "zero run of length 0 after the first run", 3);
    }

    @Test
    void deltaEndingAfterAZeroRun() {
        assertRejected("05", "delta ends after a zero run", 1);
        assertRejected("00 01 aa 02", "delta ends after a zero run", 4);
    }

    @Test
    void dataPastTheEndOfThePage() {
        // The page is complete after "00 10 <16 bytes>"; anything more is a run past its end.
        assertRejected("00 10" + " aa".repeat(16) + " 01 01 bb", "zero run of 1 bytes at page offset 16", 18);
        assertRejected("00 10" + " aa".repeat(16) + " 00", "zero run of length 0 after the first run", 18);
    }

    @Test
    void acceptsNonMinimalLengthsAsQemuDoes() throws Exception {
        byte[] page = new byte[PAGE];
        byte[] delta = hex("82 00 81 80 00 aa"); // zrun 2, nzrun 1, both padded
        Xbzrle.decode(delta, delta.length, page);
        assertThat(page[2]).isEqualTo((byte) 0xaa);
    }

    @Test
    void validateLeavesNothingTouchedAndAcceptsGoodDeltas() throws Exception {
        byte[] delta = hex("00 01 aa 0e 01 bb");
        Xbzrle.validate(MemorySegment.ofArray(delta), 0, delta.length, PAGE);
        Xbzrle.validate(MemorySegment.ofArray(delta), 0, 0, PAGE); // empty = unchanged
        byte[] page = new byte[PAGE];
        Xbzrle.decode(delta, delta.length, page);
        assertThat(page[0]).isEqualTo((byte) 0xaa);
        assertThat(page[15]).isEqualTo((byte) 0xbb);
    }
}
