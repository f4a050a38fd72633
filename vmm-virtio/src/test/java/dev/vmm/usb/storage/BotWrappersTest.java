package dev.vmm.usb.storage;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.HexFormat;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The CBW (BOT 1.0 §5.1, §6.2.1 "valid and meaningful") and CSW (§5.2) encodings, field by field:
 * little-endian, unsigned lengths, each reserved bit and each bound on its own.
 */
class BotWrappersTest {
    private static byte[] cbw(int flags, int lun, int cbLength) {
        byte[] b = BotHost.cbw(0x89abcdef, 0xfffffffeL, false, 0, new byte[16]);
        b[12] = (byte) flags;
        b[13] = (byte) lun;
        b[14] = (byte) cbLength;
        for (int i = 0; i < 16; i++) b[15 + i] = (byte) (0xa0 + i);
        return b;
    }

    @Test
    void validCbwFieldsAreReadLittleEndianAndUnsigned() {
        CommandBlockWrapper c = CommandBlockWrapper.parse(cbw(0x80, 3, 10), 31, 4);
        assertThat(c).isNotNull();
        assertThat(c.tag()).isEqualTo(0x89abcdef);
        assertThat(c.dataLength()).isEqualTo(0xfffffffeL);
        assertThat(c.in()).isTrue();
        assertThat(c.lun()).isEqualTo(3);
        assertThat(c.cdb()).containsExactly(Arrays.copyOfRange(cbw(0, 0, 0), 15, 25));
        CommandBlockWrapper out = CommandBlockWrapper.parse(cbw(0, 0, 16), 31, 1);
        assertThat(out.in()).isFalse();
        assertThat(out.cdb()).hasSize(16).endsWith((byte) 0xaf);
        assertThat(CommandBlockWrapper.parse(cbw(0, 0, 1), 31, 1).cdb()).containsExactly((byte) 0xa0);
        // Each byte of the signature and of the lengths counts.
        byte[] b = cbw(0, 0, 6);
        b[8] = 1;
        b[9] = 2;
        b[10] = 3;
        b[11] = 4;
        assertThat(CommandBlockWrapper.parse(b, 31, 1).dataLength()).isEqualTo(0x04030201L);
        for (int at = 0; at < 4; at++) {
            byte[] bad = cbw(0, 0, 6);
            bad[at] ^= 0x01;
            assertThat(CommandBlockWrapper.parse(bad, 31, 1)).as("signature byte %d", at).isNull();
        }
        assertThat(CommandBlockWrapper.le32(new byte[] {(byte) 0x80, 0, 0, (byte) 0x80}, 0)).isEqualTo(0x80000080);
    }

    @Test
    void cbwThatIsNotValidOrNotMeaningfulIsRefused() {
        byte[] good = cbw(0, 0, 6);
        assertThat(CommandBlockWrapper.parse(good, 30, 1)).as("30 bytes transferred").isNull();
        assertThat(CommandBlockWrapper.parse(Arrays.copyOf(good, 32), 32, 1)).as("32 bytes transferred").isNull();
        assertThat(CommandBlockWrapper.parse(Arrays.copyOf(good, 30), 31, 1)).as("buffer shorter than its length").isNull();
        for (int bit = 0; bit < 7; bit++) {
            assertThat(CommandBlockWrapper.parse(cbw(1 << bit, 0, 6), 31, 1)).as("reserved flag bit %d", bit).isNull();
        }
        for (int bit = 4; bit < 8; bit++) {
            assertThat(CommandBlockWrapper.parse(cbw(0, 1 << bit, 6), 31, 16)).as("reserved LUN bit %d", bit).isNull();
            assertThat(CommandBlockWrapper.parse(cbw(0, 0, 1 << bit | 1), 31, 1)).as("CB length bit %d", bit).isNull();
        }
        assertThat(CommandBlockWrapper.parse(cbw(0, 1, 6), 31, 1)).as("LUN 1 of 1").isNull();
        assertThat(CommandBlockWrapper.parse(cbw(0, 1, 6), 31, 2)).as("LUN 1 of 2").isNotNull();
        assertThat(CommandBlockWrapper.parse(cbw(0, 15, 6), 31, 16)).as("LUN 15 of 16").isNotNull();
        assertThat(CommandBlockWrapper.parse(cbw(0, 0, 0), 31, 1)).as("CB length 0").isNull();
        assertThat(CommandBlockWrapper.parse(cbw(0, 0, 17), 31, 1)).as("CB length 17").isNull();
    }

    @Test
    void cswIsLittleEndianWithResidueSaturatedAt32Bits() {
        assertThat(HexFormat.of().formatHex(new CommandStatusWrapper(0x01020304, 0x0a0b0c0dL, CommandStatusWrapper.FAILED).bytes()))
                .isEqualTo("55534253" + "04030201" + "0d0c0b0a" + "01");
        assertThat(HexFormat.of().formatHex(new CommandStatusWrapper(-1, 0xffffffffL, CommandStatusWrapper.PHASE_ERROR).bytes()))
                .isEqualTo("55534253" + "ffffffff" + "ffffffff" + "02");
        assertThat(Arrays.copyOfRange(new CommandStatusWrapper(7, 0x1_0000_0005L, 0).bytes(), 8, 12))
                .as("a residue above 32 bits is reported as the largest").containsExactly(-1, -1, -1, -1);
        assertThat(new CommandStatusWrapper(7, 0, CommandStatusWrapper.PASSED).bytes()).hasSize(CommandStatusWrapper.LENGTH).endsWith(0);
    }
}
