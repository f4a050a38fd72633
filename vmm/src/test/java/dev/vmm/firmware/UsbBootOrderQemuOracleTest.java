package dev.vmm.firmware;

import dev.vmm.chipset.fwcfg.FwCfg;
import dev.vmm.config.DeviceSpec;
import dev.vmm.config.DiskSpec;
import dev.vmm.config.UsbDeviceSpec;
import dev.vmm.config.UsbSpec;
import dev.vmm.machine.DryRun;
import dev.vmm.machine.GuestRam;
import dev.vmm.machine.MachineBuilder;
import dev.vmm.machine.MachineConfig;
import dev.vmm.machine.PreparedMachine;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --usb-storage ...,bootindex=N} in fw_cfg {@code bootorder}, compared with QEMU 7.2 given
 * {@code -device qemu-xhci} and {@code -device usb-storage,bootindex=N} with the same images, under
 * qtest (no KVM), both read through the fw_cfg ports: three storage devices (two with a bootindex,
 * the middle one without, so the root hub port of the third is predicted past it) and a virtio-blk
 * disk with a bootindex between them. QEMU's controller and disk get the PCI slots ours got.
 */
@Timeout(120)
class UsbBootOrderQemuOracleTest {
    @ParameterizedTest
    @ValueSource(strings = {"pc", "q35"})
    void usbStorageBootindexMatchesQemu(String machine, @TempDir Path dir) throws Exception {
        Path a = image(dir, "a.raw"), b = image(dir, "b.raw"), c = image(dir, "c.raw"), blk = image(dir, "blk.raw");
        List<DeviceSpec> ours = new ArrayList<>();
        // pc: pvpanic-pci first, so that our slot 1 is taken as QEMU's PIIX3 takes it there
        if (machine.equals("pc")) ours.add(dev.vmm.config.PvpanicSpec.parse("pci"));
        ours.addAll(List.of(UsbSpec.parse(""),
                UsbDeviceSpec.Storage.parse("path=" + a + ",bootindex=2"),
                UsbDeviceSpec.Storage.parse("path=" + b),
                UsbDeviceSpec.Storage.parse("path=" + c + ",bootindex=1"),
                DiskSpec.parse("path=" + blk + ",bootindex=3")));
        Path bios = dir.resolve("bios.bin");
        Files.write(bios, new byte[64 << 10]);   // only checked for its size; nothing runs
        MachineConfig cfg = new MachineConfig(machine, 256L << 20, 1, null, "firmware", null, "",
                new MachineConfig.Serial.None(), GuestRam.Options.DEFAULT, false, false, new MachineConfig.Devices(ours),
                new PlatformOptions(bios, BootOptions.DEFAULT, true, List.of()));
        FwCfg fw;
        String xhciSlot, blkSlot;
        try (PreparedMachine p = new MachineBuilder().prepare(cfg)) {
            String described = DryRun.describe(p, "host");
            xhciSlot = slot(described, "qemu-xhci");
            blkSlot = slot(described, "virtio-blk-pci");
            fw = FirmwareConfig.build(p.memory(), 1, GuestRam.layout(256L << 20, p.recipe().lowRamEnd(256L << 20)), false,
                    BootOptions.DEFAULT, DryRun.bootOrder(p), null, List.of(), UUID.randomUUID());
        }   // our image locks are let go before QEMU opens the same files
        FwCfgPorts ourPorts = new FwCfgPorts() {
            @Override public void out(int port, int size, long v) { fw.write(port - 0x510, size, v); }

            @Override public long in(int port, int size) { return fw.read(port - 0x510, size); }
        };
        List<String> args = new ArrayList<>(List.of("-M", machine + ",smm=off", "-m", "256",
                "-device", "qemu-xhci,id=xhci,addr=" + xhciSlot));
        int n = 0;
        for (String drive : List.of(a + ",bootindex=2", b.toString(), c + ",bootindex=1")) {
            String[] parts = drive.split(",", 2);
            args.addAll(List.of("-drive", "if=none,id=u" + n + ",file=" + parts[0] + ",format=raw",
                    "-device", "usb-storage,bus=xhci.0,drive=u" + n + (parts.length > 1 ? "," + parts[1] : "")));
            n++;
        }
        args.addAll(List.of("-drive", "if=none,id=v0,file=" + blk + ",format=raw", "-device", "virtio-blk-pci,drive=v0,addr=" + blkSlot + ",bootindex=3"));
        try (Qtest qemu = new Qtest(args.toArray(String[]::new))) {
            byte[] theirs = qemu.file("bootorder");
            assertNotNull(theirs, "QEMU has no bootorder");
            String expected = new String(theirs, StandardCharsets.US_ASCII);
            assertTrue(expected.contains("/usb@" + Integer.toHexString(Integer.parseInt(xhciSlot, 16)) + "/storage@"), "QEMU's order names the controller: " + expected);
            assertEquals(expected, new String(ourPorts.file("bootorder"), StandardCharsets.US_ASCII), "bootorder");
        }
    }

    private static String slot(String dryRun, String device) {
        Matcher m = Pattern.compile("  00:(..)\\.0 " + Pattern.quote(device)).matcher(dryRun);
        assertTrue(m.find(), device + " in the dry run:\n" + dryRun);
        return m.group(1);
    }

    private static Path image(Path dir, String name) throws Exception {
        Path p = dir.resolve(name);
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(1 << 20);
        }
        return p;
    }
}
