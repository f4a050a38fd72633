package dev.vmm.usb.storage;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import dev.vmm.chipset.testing.QemuQtest;
import dev.vmm.scsi.ScsiDisk;
import dev.vmm.scsi.ScsiTarget;
import dev.vmm.usb.UsbSetup;
import dev.vmm.usb.UsbSpeed;
import dev.vmm.usb.device.DescriptorParser;
import dev.vmm.usb.device.Descriptors;
import dev.vmm.usb.device.UsbTestHost;
import dev.vmm.usb.hid.QemuUhciHost;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Our usb-storage against QEMU 7.2's, whose descriptors are read at test time through the qtest
 * UHCI driver ({@link QemuUhciHost}, full speed): ours is built at full speed for the comparison
 * (as QEMU's device is on a UHCI port). Compared: the device descriptor's bcdUSB, class triple,
 * bMaxPacketSize0, vendor, product, bcdDevice and configuration count; the device qualifier (both
 * also work at high speed); the configuration's value, attributes, bMaxPower, the interface's
 * class/subclass/protocol (08/06/50, Bulk-Only) and its endpoints (address, type, max packet
 * size, interval); the other-speed (high-speed) configuration's endpoints; Get Max LUN's answer.
 * Not compared: strings (ours say "VMM"), and the SuperSpeed-only descriptors — bcdUSB 3.00, the
 * SuperSpeed endpoint companions and the BOS — which a UHCI port cannot see; UsbStorageTest checks
 * those against the USB 3.2 specification's rules.
 */
@Timeout(120)
class UsbStorageQemuOracleTest {
    @TempDir
    Path dir;

    @Test
    void fullAndHighSpeedDescriptorsMatchQemus() throws Exception {
        QemuQtest.assumeInstalled();
        Path image = dir.resolve("stick.raw");
        Files.write(image, new byte[1 << 20]);
        byte[] qDev, qQualifier, qCfg, qOther, qMaxLun;
        try (QemuUhciHost h = new QemuUhciHost(dir, "usb-storage,drive=stick",
                "-drive", "if=none,id=stick,format=raw,file=" + image)) {
            qDev = h.descriptor(0, Descriptors.DEVICE, 0, 0, 18);
            assertThat(h.control(0, 0, UsbSetup.SET_ADDRESS, 2, 0, 0)).isNotNull();
            qQualifier = h.descriptor(2, Descriptors.DEVICE_QUALIFIER, 0, 0, 10);
            qCfg = h.descriptor(2, Descriptors.CONFIGURATION, 0, 0, u16(h.descriptor(2, Descriptors.CONFIGURATION, 0, 0, 9), 2));
            qOther = h.descriptor(2, Descriptors.OTHER_SPEED_CONFIGURATION, 0, 0, u16(h.descriptor(2, Descriptors.OTHER_SPEED_CONFIGURATION, 0, 0, 9), 2));
            assertThat(h.control(2, 0, UsbSetup.SET_CONFIGURATION, 1, 0, 0)).isNotNull();
            qMaxLun = h.control(2, 0xa1, UsbStorage.GET_MAX_LUN, 0, 0, 1);
        }
        try (BlockDevice disk = Images.open(image, new Images.Options(true, ImageFormat.RAW, false, false))) {
            UsbStorage ours = new UsbStorage(new ScsiTarget(List.of(new ScsiDisk(disk, ScsiDisk.Config.of("x")))), Runnable::run,
                    UsbSpeed.FULL, "VMM0000000000001");
            UsbTestHost host = new UsbTestHost(ours);
            byte[] oDev = host.getDescriptor(Descriptors.DEVICE, 0, 0, 18).data();
            byte[] oQualifier = host.getDescriptor(Descriptors.DEVICE_QUALIFIER, 0, 0, 10).data();
            byte[] oCfg = host.getDescriptor(Descriptors.CONFIGURATION, 0, 0, 255).data();
            byte[] oOther = host.getDescriptor(Descriptors.OTHER_SPEED_CONFIGURATION, 0, 0, 255).data();
            assertThat(host.control(0, UsbSetup.SET_ADDRESS, 2, 0, 0, new byte[0]).ok()).isTrue();
            assertThat(host.control(0, UsbSetup.SET_CONFIGURATION, 1, 0, 0, new byte[0]).ok()).isTrue();
            byte[] oMaxLun = host.controlIn(0xa1, UsbStorage.GET_MAX_LUN, 0, 0, 1).data();

            for (int at : new int[] {2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 17}) {
                assertThat(oDev[at]).as("device descriptor byte %d: ours %s, QEMU %s", at, hex(oDev), hex(qDev)).isEqualTo(qDev[at]);
            }
            for (int at : new int[] {0, 1, 2, 3, 4, 5, 6, 8}) {
                assertThat(oQualifier[at]).as("device qualifier byte %d: ours %s, QEMU %s", at, hex(oQualifier), hex(qQualifier))
                        .isEqualTo(qQualifier[at]);
            }
            compareConfigurations("configuration (full speed)", oCfg, qCfg);
            compareConfigurations("other-speed configuration (high speed)", oOther, qOther);
            assertThat(oMaxLun).as("Get Max LUN").isEqualTo(qMaxLun);
        }
    }

    private static void compareConfigurations(String what, byte[] ours, byte[] qemu) {
        DescriptorParser.Parsed o = DescriptorParser.configuration(ours, false), q = DescriptorParser.configuration(qemu, false);
        String both = what + ": ours " + hex(ours) + ", QEMU " + hex(qemu);
        assertThat(o.value()).as(both).isEqualTo(q.value());
        assertThat(o.attributes()).as("bmAttributes, " + both).isEqualTo(q.attributes());
        assertThat(ours[8]).as("bMaxPower, " + both).isEqualTo(qemu[8]);
        assertThat(o.interfaces()).as(both).hasSameSizeAs(q.interfaces());
        DescriptorParser.Interface oi = o.interfaces().getFirst(), qi = q.interfaces().getFirst();
        assertThat(List.of(oi.number(), oi.interfaceClass(), oi.subClass(), oi.protocol()))
                .as("interface, " + both).isEqualTo(List.of(qi.number(), qi.interfaceClass(), qi.subClass(), qi.protocol()));
        assertThat(oi.endpoints()).as("endpoints, " + both).isEqualTo(qi.endpoints());
    }

    private static int u16(byte[] b, int at) { return (b[at] & 0xff) | (b[at + 1] & 0xff) << 8; }

    private static String hex(byte[] b) { return b == null ? "null" : HexFormat.of().formatHex(b); }
}
