package dev.vmm.chipset.acpi;

import static dev.vmm.chipset.acpi.AmlBuilder.integer;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** AML encodings against bytes worked out by hand from the ACPI 6 AML grammar (section 20). */
class AmlBuilderTest {

    private static byte[] bytes(int... v) {
        byte[] b = new byte[v.length];
        for (int i = 0; i < v.length; i++) b[i] = (byte) v[i];
        return b;
    }

    @Test
    void integersUseTheShortestEncoding() {
        assertThat(integer(0).encode()).isEqualTo(bytes(0x00));
        assertThat(integer(1).encode()).isEqualTo(bytes(0x01));
        assertThat(integer(-1).encode()).isEqualTo(bytes(0xff));
        assertThat(integer(2).encode()).isEqualTo(bytes(0x0a, 0x02));
        assertThat(integer(0xff).encode()).isEqualTo(bytes(0x0a, 0xff));
        assertThat(integer(0x100).encode()).isEqualTo(bytes(0x0b, 0x00, 0x01));
        assertThat(integer(0xffff).encode()).isEqualTo(bytes(0x0b, 0xff, 0xff));
        assertThat(integer(0x1_0000).encode()).isEqualTo(bytes(0x0c, 0x00, 0x00, 0x01, 0x00));
        assertThat(integer(0xffff_ffffL).encode()).isEqualTo(bytes(0x0c, 0xff, 0xff, 0xff, 0xff));
        assertThat(integer(0x1_0000_0000L).encode())
                .isEqualTo(bytes(0x0e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00));
        assertThat(integer(0x8000_0000_0000_0000L).encode())
                .isEqualTo(bytes(0x0e, 0, 0, 0, 0, 0, 0, 0, 0x80));
    }

    @Test
    void stringsAreNullTerminatedAscii() {
        assertThat(AmlBuilder.string("QEMU0001").encode())
                .isEqualTo(bytes(0x0d, 'Q', 'E', 'M', 'U', '0', '0', '0', '1', 0x00));
        assertThat(AmlBuilder.string("").encode()).isEqualTo(bytes(0x0d, 0x00));
        assertThatThrownBy(() -> AmlBuilder.string("a\0b")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> AmlBuilder.string("é")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void pkgLengthCountsItselfAndSwitchesWidthAtTheLimits() {
        assertThat(AmlBuilder.pkgLength(0)).isEqualTo(bytes(0x01));
        assertThat(AmlBuilder.pkgLength(62)).isEqualTo(bytes(0x3f));          // 63 fits 6 bits
        assertThat(AmlBuilder.pkgLength(63)).isEqualTo(bytes(0x41, 0x04));    // 65 = 0x041
        assertThat(AmlBuilder.pkgLength(0x12d)).isEqualTo(bytes(0x4f, 0x12)); // 0x12f
        assertThat(AmlBuilder.pkgLength(4093)).isEqualTo(bytes(0x4f, 0xff));  // 4095, largest 2-byte
        assertThat(AmlBuilder.pkgLength(4094)).isEqualTo(bytes(0x81, 0x00, 0x01)); // 4097
        assertThat(AmlBuilder.pkgLength((1 << 20) - 4)).isEqualTo(bytes(0x8f, 0xff, 0xff));
        assertThat(AmlBuilder.pkgLength((1 << 20) - 3)).isEqualTo(bytes(0xc1, 0x00, 0x00, 0x01));
        assertThat(AmlBuilder.pkgLength(AmlBuilder.MAX_PKG_LENGTH - 4)).isEqualTo(bytes(0xcf, 0xff, 0xff, 0xff));
        assertThatThrownBy(() -> AmlBuilder.pkgLength(AmlBuilder.MAX_PKG_LENGTH - 3))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void nameStrings() {
        assertThat(AmlBuilder.nameString("_SB")).isEqualTo(bytes('_', 'S', 'B', '_'));
        assertThat(AmlBuilder.nameString("\\_SB.PCI0"))
                .isEqualTo(bytes('\\', 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0'));
        assertThat(AmlBuilder.nameString("\\A.B.C")).isEqualTo(bytes('\\', 0x2f, 3,
                'A', '_', '_', '_', 'B', '_', '_', '_', 'C', '_', '_', '_'));
        assertThat(AmlBuilder.nameString("^^FOO")).isEqualTo(bytes('^', '^', 'F', 'O', 'O', '_'));
        assertThat(AmlBuilder.nameString("\\")).isEqualTo(bytes('\\', 0x00));
        for (String bad : new String[] {"", "1ABC", "ABCDE", "abc", "A..B", "A-B", "\\_SB."})
            assertThatThrownBy(() -> AmlBuilder.nameString(bad)).as(bad).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void eisaIdCompression() {
        assertThat(AmlBuilder.eisaId("PNP0A03").encode()).isEqualTo(bytes(0x0c, 0x41, 0xd0, 0x0a, 0x03));
        assertThat(AmlBuilder.eisaId("PNP0501").encode()).isEqualTo(bytes(0x0c, 0x41, 0xd0, 0x05, 0x01));
        assertThat(AmlBuilder.eisaIdValue("PNP0A03")).isEqualTo(0x030ad041L);
        assertThatThrownBy(() -> AmlBuilder.eisaId("pnp0a03")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> AmlBuilder.eisaId("PNP0A0")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void nameWithPackage() {
        byte[] s5 = new AmlBuilder().name("\\_S5", AmlBuilder.pkg(integer(5), integer(5), integer(0), integer(0)))
                .toByteArray();
        assertThat(s5).isEqualTo(bytes(0x08, '\\', '_', 'S', '5', '_',
                0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00));
        assertThat(AmlBuilder.pkg().encode()).isEqualTo(bytes(0x12, 0x02, 0x00));
    }

    @Test
    void largePackagesUseVarPackage() {
        List<AmlBuilder.Data> ones = new ArrayList<>();
        for (int i = 0; i < 256; i++) ones.add(integer(1));
        byte[] b = AmlBuilder.pkg(ones).encode();
        // VarPackageOp, 2-byte PkgLength (3 + 256 + 2 = 261 = 0x105), VarNumElements = WordConst 0x100.
        assertThat(b).startsWith(bytes(0x13, 0x45, 0x10, 0x0b, 0x00, 0x01, 0x01));
        assertThat(b).hasSize(1 + 261);
        List<AmlBuilder.Data> ff = new ArrayList<>(ones.subList(0, 255));
        assertThat(AmlBuilder.pkg(ff).encode()).startsWith(bytes(0x12, 0x42, 0x10, 0xff, 0x01)); // 1 + 255 + 2 = 258 = 0x102
    }

    @Test
    void buffer() {
        assertThat(AmlBuilder.buffer(bytes(1, 2, 3)).encode()).isEqualTo(bytes(0x11, 0x06, 0x0a, 0x03, 1, 2, 3));
        assertThat(AmlBuilder.buffer(new byte[0]).encode()).isEqualTo(bytes(0x11, 0x02, 0x00));
    }

    @Test
    void scopeDeviceMethod() {
        assertThat(new AmlBuilder().scope("\\_SB", s -> { }).toByteArray())
                .isEqualTo(bytes(0x10, 0x06, '\\', '_', 'S', 'B', '_'));
        assertThat(new AmlBuilder().device("COM1", d -> d.name("_UID", integer(1))).toByteArray())
                .isEqualTo(bytes(0x5b, 0x82, 0x0b, 'C', 'O', 'M', '1', 0x08, '_', 'U', 'I', 'D', 0x01));
        assertThat(new AmlBuilder().method("_STA", 0, false, m -> m.returnValue(integer(0x0f))).toByteArray())
                .isEqualTo(bytes(0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xa4, 0x0a, 0x0f));
        assertThat(new AmlBuilder().method("FOO", 2, true, m -> { }).toByteArray())
                .isEqualTo(bytes(0x14, 0x06, 'F', 'O', 'O', '_', 0x0a));
        assertThatThrownBy(() -> new AmlBuilder().method("FOO", 8, false, m -> { }))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void nestedPkgLengthsGrowPastOneByte() {
        // A device whose body is 70 bytes needs a 2-byte PkgLength: 4 (name) + 70 + 2 = 76 = 0x4c.
        byte[] raw = new byte[70];
        byte[] d = new AmlBuilder().device("BIG", b -> b.raw(raw)).toByteArray();
        assertThat(d).startsWith(bytes(0x5b, 0x82, 0x4c, 0x04, 'B', 'I', 'G', '_'));
        assertThat(d).hasSize(2 + 2 + 4 + 70);
    }

    @Test
    void resourceDescriptors() {
        assertThat(new ResourceTemplate().io(0x3f8, 0x3f8, 1, 8).irqNoFlags(4).toByteArray())
                .isEqualTo(bytes(0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08, 0x22, 0x10, 0x00, 0x79, 0x00));
        assertThat(new ResourceTemplate().irqNoFlags(1, 12).toByteArray()).isEqualTo(bytes(0x22, 0x02, 0x10, 0x79, 0x00));
        assertThat(new ResourceTemplate().wordBusNumber(0, 0xff).toByteArray()).isEqualTo(bytes(
                0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x01,
                0x79, 0x00));
        assertThat(new ResourceTemplate().wordIo(0x1000, 0xffff).toByteArray()).isEqualTo(bytes(
                0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0x00, 0x00, 0x00, 0x10, 0xff, 0xff, 0x00, 0x00, 0x00, 0xf0,
                0x79, 0x00));
        assertThat(new ResourceTemplate().dwordMemory(0xc000_0000L, 0xfebf_ffffL).toByteArray()).isEqualTo(bytes(
                0x87, 0x17, 0x00, 0x00, 0x0c, 0x03,
                0, 0, 0, 0, 0x00, 0x00, 0x00, 0xc0, 0xff, 0xff, 0xbf, 0xfe, 0, 0, 0, 0, 0x00, 0x00, 0xc0, 0x3e,
                0x79, 0x00));
        byte[] q = new ResourceTemplate().qwordMemory(0x100_0000_0000L, 0x13f_ffff_ffffL).toByteArray();
        assertThat(q).hasSize(3 + 43 + 2);
        assertThat(q).startsWith(bytes(0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x03));
        assertThat(java.util.Arrays.copyOfRange(q, 14, 22)).isEqualTo(bytes(0, 0, 0, 0, 0, 0x01, 0, 0));   // min
        assertThat(java.util.Arrays.copyOfRange(q, 38, 46)).isEqualTo(bytes(0, 0, 0, 0, 0x40, 0, 0, 0));   // length
        assertThat(new ResourceTemplate().memory32Fixed(0xfec0_0000L, 0x1000).toByteArray()).isEqualTo(bytes(
                0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0xc0, 0xfe, 0x00, 0x10, 0x00, 0x00, 0x79, 0x00));
        // As a buffer: BufferOp, PkgLength 16 (2 + 13 + 1), BytePrefix 13, data.
        assertThat(new ResourceTemplate().io(0x3f8, 0x3f8, 1, 8).irqNoFlags(4).toData().encode())
                .startsWith(bytes(0x11, 0x10, 0x0a, 0x0d, 0x47));
    }

    @Test
    void resourceValidation() {
        assertThatThrownBy(() -> new ResourceTemplate().io(0x10000, 0x10000, 1, 1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new ResourceTemplate().io(0x20, 0x10, 1, 1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new ResourceTemplate().irqNoFlags(16)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new ResourceTemplate().irqNoFlags()).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new ResourceTemplate().wordBusNumber(1, 256)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new ResourceTemplate().dwordMemory(0, 0x1_0000_0000L)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new ResourceTemplate().qwordMemory(10, 5)).isInstanceOf(IllegalArgumentException.class);
    }
}
