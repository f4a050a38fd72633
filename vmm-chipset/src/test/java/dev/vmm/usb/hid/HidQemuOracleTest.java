package dev.vmm.usb.hid;

import dev.vmm.chipset.testing.QemuQtest;
import dev.vmm.usb.UsbDevice;
import dev.vmm.usb.device.DescriptorParser;
import dev.vmm.usb.device.Descriptors;
import dev.vmm.usb.device.UsbTestHost;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Our usb-tablet, usb-kbd and usb-mouse against QEMU 7.2's own devices, whose descriptors are read at test time
 * through a UHCI controller under qtest (full speed, so our full-speed view — the other-speed
 * configuration — is what is compared): identity, configuration, interface, endpoint and HID
 * descriptor fields a guest driver looks at, and the sizes of the input and output reports the
 * report descriptors declare. Not compared: bMaxPacketSize0 (ours is a high-speed device), bcdHID
 * (ours says 1.11), string indexes and contents.
 */
@Timeout(120)
class HidQemuOracleTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"usb-tablet", "usb-kbd", "usb-mouse"})
    void descriptorsMatchQemus(String driver) throws Exception {
        QemuQtest.assumeInstalled();
        byte[] qDev, qCfg, qReport;
        try (QemuUhciHost h = new QemuUhciHost(dir, driver)) {
            qDev = h.descriptor(0, Descriptors.DEVICE, 0, 0, 18);
            assertThat(h.control(0, 0, 5, 2, 0, 0)).isNotNull(); // SET_ADDRESS 2
            byte[] c9 = h.descriptor(2, Descriptors.CONFIGURATION, 0, 0, 9);
            qCfg = h.descriptor(2, Descriptors.CONFIGURATION, 0, 0, u16(c9, 2));
            byte[] hid = DescriptorParser.configuration(qCfg, false).interfaces().get(0).classDescriptors().get(0);
            qReport = h.control(2, 0x81, 6, 0x2200, 0, u16(hid, 7));
        }
        UsbDevice ours = switch (driver) {
            case "usb-tablet" -> new UsbTablet();
            case "usb-mouse" -> new UsbMouse();
            default -> new UsbKeyboard();
        };
        UsbTestHost host = new UsbTestHost(ours);
        byte[] oDev = host.getDescriptor(Descriptors.DEVICE, 0, 0, 18).data();
        byte[] oCfg = host.getDescriptor(Descriptors.OTHER_SPEED_CONFIGURATION, 0, 0, 255).data();
        oCfg[1] = Descriptors.CONFIGURATION;
        byte[] oReport = host.controlIn(1, 6, 0x2200, 0, 255).data();

        // Device: bcdUSB, class triple, vendor, product, configurations.
        for (int at : new int[] {2, 3, 4, 5, 6, 8, 9, 10, 11, 17}) {
            assertThat(oDev[at]).as("device descriptor byte %d: ours %s, QEMU %s", at, hex(oDev), hex(qDev)).isEqualTo(qDev[at]);
        }
        DescriptorParser.Parsed q = DescriptorParser.configuration(qCfg, false), o = DescriptorParser.configuration(oCfg, false);
        assertThat(o.value()).isEqualTo(q.value());
        assertThat(o.attributes()).as("bmAttributes: ours %s, QEMU %s", hex(oCfg), hex(qCfg)).isEqualTo(q.attributes());
        assertThat(oCfg[8]).as("bMaxPower").isEqualTo(qCfg[8]);
        assertThat(o.interfaces()).hasSameSizeAs(q.interfaces());
        DescriptorParser.Interface qi = q.interfaces().get(0), oi = o.interfaces().get(0);
        assertThat(List.of(oi.number(), oi.interfaceClass(), oi.subClass(), oi.protocol()))
                .isEqualTo(List.of(qi.number(), qi.interfaceClass(), qi.subClass(), qi.protocol()));
        assertThat(oi.endpoints()).isEqualTo(qi.endpoints());
        byte[] qHid = qi.classDescriptors().get(0), oHid = oi.classDescriptors().get(0);
        assertThat(List.of(oHid[0], oHid[1], oHid[4], oHid[5], oHid[6])).isEqualTo(List.of(qHid[0], qHid[1], qHid[4], qHid[5], qHid[6]));
        // The reports the two report descriptors declare have the same sizes.
        assertThat(reportBits(oReport, 0x80)).as("input report bits").isEqualTo(reportBits(qReport, 0x80));
        assertThat(reportBits(oReport, 0x90)).as("output report bits").isEqualTo(reportBits(qReport, 0x90));
    }

    /** Sum of Report Size × Report Count over the main items with this tag (80h Input, 90h Output). */
    static int reportBits(byte[] d, int mainTag) {
        int size = 0, count = 0, bits = 0;
        for (int i = 0; i < d.length; ) {
            int prefix = d[i] & 0xff, n = prefix & 3;
            n = n == 3 ? 4 : n;
            int value = 0;
            for (int k = 0; k < n; k++) value |= (d[i + 1 + k] & 0xff) << (8 * k);
            switch (prefix & 0xfc) {
                case 0x74 -> size = value;
                case 0x94 -> count = value;
                default -> {
                    if ((prefix & 0xfc) == mainTag) bits += size * count;
                }
            }
            i += 1 + n;
        }
        return bits;
    }

    private static int u16(byte[] b, int at) { return (b[at] & 0xff) | (b[at + 1] & 0xff) << 8; }

    private static String hex(byte[] b) { return java.util.HexFormat.of().formatHex(b); }
}
