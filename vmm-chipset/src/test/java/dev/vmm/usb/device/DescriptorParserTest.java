package dev.vmm.usb.device;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The host-side descriptor reader against malformed descriptors (USB 2.0 §9.5, §9.6; USB 3.2
 * §9.6.2, §9.6.7): each layout error is refused with an {@link IllegalArgumentException} whose
 * message names it, and nothing else escapes. Every case changes one field of a valid set, so the
 * boundary of each check is met from both sides.
 */
@Timeout(30)
class DescriptorParserTest {
    /** A valid configuration: 2 interfaces, class descriptors, IN and OUT endpoints with the same number. */
    private static byte[] valid() {
        Descriptors.Configuration c = new Descriptors.Configuration(3, 0, 0x60, 50, List.of(
                new Descriptors.Interface(0, 3, 1, 2, 0, hex("092111010001223400"),
                        List.of(new Descriptors.Endpoint(0x81, Descriptors.EP_INTERRUPT, 8, 10, null))),
                new Descriptors.Interface(1, 8, 6, 0x50, 0, new byte[0], List.of(
                        new Descriptors.Endpoint(0x82, Descriptors.EP_BULK, 512, 0, null),
                        new Descriptors.Endpoint(0x02, Descriptors.EP_BULK, 512, 0, null)))));
        return Descriptors.configuration(c, Descriptors.CONFIGURATION);
    }

    /** Interface 0 with one bulk endpoint and its SuperSpeed companion (bMaxBurst given). */
    private static byte[] superSpeed(int maxBurst) {
        Descriptors.Endpoint ep = new Descriptors.Endpoint(0x81, Descriptors.EP_BULK, 1024, 0, new Descriptors.Companion(maxBurst, 0, 0));
        return Descriptors.configuration(new Descriptors.Configuration(1, 0, 0, 1,
                List.of(new Descriptors.Interface(0, 8, 6, 0x50, 0, new byte[0], List.of(ep)))), Descriptors.CONFIGURATION);
    }

    @Test
    void aValidSetIsReadBackFieldForField() {
        byte[] b = valid();
        DescriptorParser.Parsed p = DescriptorParser.configuration(b, false);
        assertThat(p.value()).isEqualTo(3);
        assertThat(p.attributes()).isEqualTo(0xe0);
        assertThat(p.interfaces()).hasSize(2);
        DescriptorParser.Interface i0 = p.interfaces().get(0), i1 = p.interfaces().get(1);
        assertThat(List.of(i0.number(), i0.interfaceClass(), i0.subClass(), i0.protocol())).containsExactly(0, 3, 1, 2);
        assertThat(i0.classDescriptors()).singleElement().satisfies(d -> assertThat(d).hasSize(9).startsWith(0x09, 0x21));
        assertThat(i0.endpoints()).containsExactly(new Descriptors.Endpoint(0x81, 3, 8, 10, null));
        assertThat(List.of(i1.number(), i1.interfaceClass(), i1.subClass(), i1.protocol())).containsExactly(1, 8, 6, 0x50);
        assertThat(i1.classDescriptors()).isEmpty();
        assertThat(i1.endpoints()).extracting(Descriptors.Endpoint::address).containsExactly(0x82, 0x02);
        assertThat(i1.endpoints().get(0).maxPacket()).isEqualTo(512);
        // The other-speed configuration has the same layout.
        b[1] = Descriptors.OTHER_SPEED_CONFIGURATION;
        assertThat(DescriptorParser.configuration(b, false).interfaces()).hasSize(2);
    }

    @Test
    void classDescriptorsNestedAfterEndpointsStayWithTheirInterface() {
        // interface 0 (1 endpoint), HID descriptor, endpoint 0x81, then a vendor descriptor (type 0x41, 3 bytes)
        byte[] b = concat(hex("09022500010100a032"), hex("090400000103010100"), hex("092111010001223400"),
                hex("0705810308000a"), hex("034101"));
        DescriptorParser.Interface i = DescriptorParser.configuration(b, false).interfaces().get(0);
        assertThat(i.classDescriptors()).hasSize(2);
        assertThat(i.classDescriptors().get(1)).containsExactly(0x03, 0x41, 0x01);
        // the endpoint's bmAttributes: only bits 1..0 are the transfer type
        b[9 + 9 + 9 + 3] = 0x0f;
        assertThat(DescriptorParser.configuration(b, false).interfaces().get(0).endpoints().get(0).type()).isEqualTo(3);
    }

    @Test
    void configurationHeaderErrors() {
        byte[] b = valid();
        refused(Arrays.copyOf(b, 8), "configuration descriptor length");
        refused(with(b, 0, 8), "configuration descriptor length");
        refused(with(b, 0, 10), "configuration descriptor length");
        refused(with(b, 1, Descriptors.DEVICE), "descriptor type 1");
        refused(with(b, 1, Descriptors.INTERFACE), "descriptor type 4");
        refused(with(b, 2, b[2] + 1), "wTotalLength " + (b.length + 1) + " but " + b.length + " bytes");
        refused(with(b, 2, b[2] - 1), "wTotalLength " + (b.length - 1) + " but " + b.length + " bytes");
        refused(with(b, 3, 1), "wTotalLength");
        refused(with(b, 7, 0x60), "bmAttributes bit 7 must be set");
        refused(with(b, 4, 1), "bNumInterfaces 1 but 2");
        refused(with(b, 4, 3), "bNumInterfaces 3 but 2");
        // exactly the 9-byte header, no interface: consistent when it announces none
        byte[] bare = with(Arrays.copyOf(b, 9), 2, 9);
        refused(bare, "bNumInterfaces 2 but 0");
        assertThat(DescriptorParser.configuration(with(bare, 4, 0), false).interfaces()).isEmpty();
    }

    @Test
    void descriptorLengthErrors() {
        byte[] b = valid();
        int iface = 9;
        refused(with(b, iface, 0), "descriptor at 9 has bLength 0");
        refused(with(b, iface, 1), "descriptor at 9 has bLength 1");
        refused(with(b, iface, 8), "interface bLength 8");
        refused(with(b, iface, 10), "interface bLength 10");
        // the last descriptor's bLength runs past the end (by one), or a lone byte is left over
        refused(with(b, b.length - 7, 8), "descriptor at " + (b.length - 7) + " has bLength 8");
        byte[] tail = Arrays.copyOf(b, b.length + 1);
        tail[2]++;
        refused(tail, "truncated descriptor at " + b.length);
        // a class descriptor of 2 bytes (just the header) is a descriptor
        byte[] two = concat(b, hex("0241"));
        two[2] += 2;
        assertThat(DescriptorParser.configuration(two, false).interfaces().get(1).classDescriptors())
                .singleElement().satisfies(d -> assertThat(d).containsExactly(0x02, 0x41));
        // an endpoint descriptor that is not 7 bytes long
        byte[] longEp = concat(Arrays.copyOf(b, b.length - 7), hex("08050203000200ff"));
        longEp[2]++;
        refused(longEp, "endpoint descriptor at " + (b.length - 7));
        byte[] shortEp = concat(Arrays.copyOf(b, b.length - 7), hex("060502030002"));
        shortEp[2]--;
        refused(shortEp, "endpoint descriptor at " + (b.length - 7));
    }

    @Test
    void countsAndOrderErrors() {
        byte[] b = valid();
        // interface 0 announces 2 endpoints but has 1 (checked when interface 1 starts)
        refused(with(b, 9 + 4, 2), "interface 0 announces 2 endpoints");
        refused(with(b, 9 + 4, 0), "interface 0 announces 0 endpoints");
        // the last interface (checked at the end)
        refused(with(b, b.length - 7 - 7 - 9 + 4, 3), "interface 1 announces 3 endpoints");
        refused(with(b, b.length - 7 - 7 - 9 + 4, 1), "interface 1 announces 1 endpoints");
        // descriptors before the first interface
        byte[] head = Arrays.copyOf(b, 9);
        byte[] epFirst = concat(head, hex("0705810308000a"));
        epFirst[2] = (byte) epFirst.length;
        epFirst[4] = 0;
        refused(epFirst, "endpoint descriptor at 9");
        byte[] classFirst = concat(head, hex("034101"));
        classFirst[2] = (byte) classFirst.length;
        classFirst[4] = 0;
        refused(classFirst, "class descriptor before any interface");
    }

    @Test
    void endpointAddressErrors() {
        byte[] b = valid();
        int lastEp = b.length - 7;
        refused(with(b, lastEp + 2, 0x82), "endpoint address 82 twice");
        refused(with(b, lastEp + 2, 0x81), "endpoint address 81 twice");
        refused(with(b, lastEp + 2, 0x00), "endpoint address 0");
        refused(with(b, lastEp + 2, 0x80), "endpoint address 80");
        for (int reserved : new int[] {0x10, 0x20, 0x40}) {
            refused(with(b, lastEp + 2, reserved | 0x03), "endpoint address " + Integer.toHexString(reserved | 3));
        }
        DescriptorParser.Parsed ok = DescriptorParser.configuration(with(b, lastEp + 2, 0x0f), false);
        assertThat(ok.interfaces().get(1).endpoints().get(1).number()).isEqualTo(15);
        assertThat(ok.interfaces().get(1).endpoints().get(1).in()).isFalse();
    }

    @Test
    void superSpeedCompanionErrors() {
        byte[] ss = superSpeed(15);
        assertThat(DescriptorParser.configuration(ss, true).interfaces().get(0).endpoints().get(0).companion())
                .isEqualTo(new Descriptors.Companion(15, 0, 0));
        refused(superSpeed(16), true, "bMaxBurst 16");
        refused(ss, false, "companion without an endpoint (or in a non-SuperSpeed configuration)");
        int comp = ss.length - 6;
        refused(with(ss, comp, 5), true, "endpoint 81 has no SuperSpeed companion");
        refused(with(ss, comp, 7), true, "endpoint 81 has no SuperSpeed companion");
        refused(with(ss, comp + 1, Descriptors.ENDPOINT), true, "endpoint 81 has no SuperSpeed companion");
        // the companion cut short at the end of the set
        byte[] cut = Arrays.copyOf(ss, ss.length - 1);
        cut[2]--;
        refused(cut, true, "endpoint 81 has no SuperSpeed companion");
        // a SuperSpeed endpoint without any companion, and a second companion after the first
        byte[] none = Arrays.copyOf(ss, comp);
        none[2] -= 6;
        refused(none, true, "endpoint 81 has no SuperSpeed companion");
        byte[] twice = concat(ss, Arrays.copyOfRange(ss, comp, ss.length));
        twice[2] += 6;
        assertThatThrownBy(() -> DescriptorParser.configuration(twice, true))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("companion without an endpoint");
        // the companion's fields
        byte[] fields = with(with(ss, comp + 3, 0x02), comp + 4, 0x34);
        fields[comp + 5] = 0x12;
        assertThat(DescriptorParser.configuration(fields, true).interfaces().get(0).endpoints().get(0).companion())
                .isEqualTo(new Descriptors.Companion(15, 2, 0x1234));
    }

    @Test
    void bosErrors() {
        byte[] b = Descriptors.bos(true, true, 1, 10, 0x20);
        assertThat(DescriptorParser.bos(b)).containsExactly(2, 3);
        refused(() -> DescriptorParser.bos(Arrays.copyOf(b, 4)), "BOS header");
        refused(() -> DescriptorParser.bos(with(b, 0, 6)), "BOS header");
        refused(() -> DescriptorParser.bos(with(b, 1, Descriptors.CONFIGURATION)), "BOS header");
        refused(() -> DescriptorParser.bos(with(b, 2, b.length - 1)), "BOS wTotalLength " + (b.length - 1) + " but " + b.length + " bytes");
        refused(() -> DescriptorParser.bos(with(b, 3, 1)), "BOS wTotalLength");
        refused(() -> DescriptorParser.bos(with(b, 4, 3)), "bNumDeviceCaps 3 but 2");
        refused(() -> DescriptorParser.bos(with(b, 4, 1)), "bNumDeviceCaps 1 but 2");
        refused(() -> DescriptorParser.bos(with(b, 5, 2)), "capability at 5");
        refused(() -> DescriptorParser.bos(with(b, 5, 0)), "capability at 5");
        refused(() -> DescriptorParser.bos(with(b, 6, Descriptors.STRING)), "capability at 5");
        refused(() -> DescriptorParser.bos(with(b, 12, 11)), "capability at 12");
        // the capability lengths each type has (USB 3.2 tables 9-15, 9-16)
        byte[] usb2 = hex("050f0000" + "01" + "0810020200000000");
        usb2[2] = (byte) usb2.length;
        refused(() -> DescriptorParser.bos(usb2), "USB 2.0 extension bLength 8");
        byte[] ss = hex("05" + "0f" + "0e00" + "01" + "09100300000e000a20");
        refused(() -> DescriptorParser.bos(ss), "SuperSpeed capability bLength 9");
        // a capability of another type (Container ID, 20 bytes) is listed as it is
        byte[] container = concat(hex("050f1900" + "01"), hex("1410040000112233445566778899aabbccddeeff"));
        assertThat(DescriptorParser.bos(container)).containsExactly(4);
        // the bare 5-byte header with no capability is a BOS
        assertThat(DescriptorParser.bos(hex("050f050000"))).isEmpty();
        // a 3-byte capability is the shortest there is
        assertThat(DescriptorParser.bos(hex("050f0800" + "01" + "031005"))).containsExactly(5);
    }

    @Test
    void stringErrors() {
        assertThat(DescriptorParser.string(hex("0203"))).isEmpty();
        assertThat(DescriptorParser.string(hex("06035600"+"4d00"))).isEqualTo("VM");
        refused(() -> DescriptorParser.string(hex("02")), "string descriptor");
        assertThat(DescriptorParser.string(hex("04035600"))).isEqualTo("V");
        refused(() -> DescriptorParser.string(hex("0603560000")), "string descriptor");  // bLength 6 of 5 bytes
        refused(() -> DescriptorParser.string(hex("060256000000")), "string descriptor");  // type 2
        refused(() -> DescriptorParser.string(hex("0503560000")), "string descriptor");  // odd length
    }

    // ---- helpers ---------------------------------------------------------------------------------

    private static void refused(byte[] b, String message) {
        refused(b, false, message);
    }

    private static void refused(byte[] b, boolean superSpeed, String message) {
        refused(() -> DescriptorParser.configuration(b, superSpeed), message);
    }

    private static void refused(org.assertj.core.api.ThrowableAssert.ThrowingCallable call, String message) {
        assertThatThrownBy(call).isExactlyInstanceOf(IllegalArgumentException.class).hasMessageContaining(message);
    }

    private static byte[] with(byte[] b, int at, int value) {
        byte[] c = b.clone();
        c[at] = (byte) value;
        return c;
    }

    static byte[] hex(String s) {
        return HexFormat.of().parseHex(s);
    }

    private static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) n += p.length;
        byte[] out = new byte[n];
        int at = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }
}
