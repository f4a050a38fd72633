package dev.vmm.firmware;

import dev.vmm.chipset.fwcfg.FwCfg;
import dev.vmm.chipset.legacy.CmosRtc;
import dev.vmm.chipset.testing.ExternalTool;
import dev.vmm.config.AhciDriveOptions;
import dev.vmm.config.AhciSpec;
import dev.vmm.config.DeviceSpec;
import dev.vmm.config.DiskSpec;
import dev.vmm.machine.DryRun;
import dev.vmm.machine.GuestRam;
import dev.vmm.machine.MachineBuilder;
import dev.vmm.machine.MachineConfig;
import dev.vmm.machine.PreparedMachine;
import org.junit.jupiter.api.Test;
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

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The fw_cfg items and CMOS bytes SeaBIOS reads for its boot order, compared with QEMU 7.2 given the
 * same drives, bootindex values and {@code -boot} options: QEMU runs under qtest (no KVM, vCPUs
 * stopped) and both are read through the fw_cfg and CMOS ports. Our side is built the way a run
 * builds it: the configuration prepared (images opened), the devices placed as the build places
 * them ({@link DryRun#bootOrder}), the fw_cfg device filled by {@link FirmwareConfig}. QEMU's
 * devices get the PCI slots ours got.
 */
@Timeout(120)
class FirmwareQemuOracleTest {
    record Case(String machine, int cpus, String boot, List<DeviceSpec> ours, List<String> qemuDrives) {}

    @Test
    void q35AhciCdromDiskAndVirtioBlkWithOrderMenuStrictAndRebootTimeout(@TempDir Path dir) throws Exception {
        Path cd = image(dir, "cd.iso"), disk = image(dir, "disk.raw"), blk = image(dir, "blk.raw");
        List<DeviceSpec> ours = List.of(DiskSpec.parse("path=" + blk + ",bootindex=3"),
                new AhciSpec(List.of(AhciDriveOptions.cdrom("path=" + cd + ",bootindex=1"), AhciDriveOptions.disk("path=" + disk + ",bootindex=2"))));
        compare(dir, new Case("q35", 2, "order=dcn,menu=on,strict=on,reboot-timeout=2500", ours, List.of(
                "-drive", "if=none,id=c0,file=" + cd + ",format=raw,media=cdrom,readonly=on", "-device", "ide-cd,drive=c0,bus=ide.0,bootindex=1",
                "-drive", "if=none,id=d0,file=" + disk + ",format=raw", "-device", "ide-hd,drive=d0,bus=ide.1,bootindex=2",
                "-drive", "if=none,id=v0,file=" + blk + ",format=raw", "-device", "virtio-blk-pci,drive=v0,addr=%SLOT0%,bootindex=3")));
    }

    @Test
    void pcTwoVirtioDisksOneWithBootindexAndDefaultOptions(@TempDir Path dir) throws Exception {
        Path a = image(dir, "a.raw"), b = image(dir, "b.raw");
        // pvpanic-pci first: our slot 1 is taken, as QEMU's PIIX3 takes it there
        compare(dir, new Case("pc", 1, null, List.of(dev.vmm.config.PvpanicSpec.parse("pci"), DiskSpec.parse("path=" + a),
                DiskSpec.parse("path=" + b + ",bootindex=7")), List.of(
                "-drive", "if=none,id=v0,file=" + a + ",format=raw", "-device", "virtio-blk-pci,drive=v0,addr=%SLOT0%",
                "-drive", "if=none,id=v1,file=" + b + ",format=raw", "-device", "virtio-blk-pci,drive=v1,addr=%SLOT1%,bootindex=7")));
    }

    private void compare(Path dir, Case c) throws Exception {
        Path bios = dir.resolve("bios.bin");
        Files.write(bios, new byte[64 << 10]);   // only checked for its size here; nothing runs
        BootOptions boot = BootOptions.parse(c.boot());
        MachineConfig cfg = new MachineConfig(c.machine(), 256L << 20, c.cpus(), null, "firmware", null, "",
                new MachineConfig.Serial.None(), GuestRam.Options.DEFAULT, false, false, new MachineConfig.Devices(c.ours()),
                new PlatformOptions(bios, boot, true, List.of()));
        FwCfg fw;
        CmosRtc cmos = new CmosRtc(java.time.Clock.systemUTC(), level -> { }, 256L << 20, 0);
        List<String> slots = new ArrayList<>();
        try (PreparedMachine p = new MachineBuilder().prepare(cfg)) {
            Matcher m = Pattern.compile("  00:(..)\\.0 virtio-blk-pci").matcher(DryRun.describe(p, "host"));
            while (m.find()) slots.add(m.group(1));
            fw = FirmwareConfig.build(p.memory(), c.cpus(), GuestRam.layout(256L << 20, p.recipe().lowRamEnd(256L << 20)), false, boot,
                    DryRun.bootOrder(p), null, List.of(), UUID.randomUUID());
            FirmwareConfig.cmos(cmos, boot, c.cpus());
        }   // our image locks are let go before QEMU opens the same files
        FwCfgPorts ours = new FwCfgPorts() {
            @Override public void out(int port, int size, long v) {
                if (port >= 0x510 && port < 0x51c) fw.write(port - 0x510, size, v);
                else cmos.writeByte(port - 0x70, (int) v);
            }

            @Override public long in(int port, int size) {
                return port >= 0x510 && port < 0x51c ? fw.read(port - 0x510, size) : cmos.readByte(port - 0x70);
            }
        };
        List<String> args = new ArrayList<>(List.of("-M", c.machine() + ",smm=off", "-m", "256", "-smp", Integer.toString(c.cpus())));
        if (c.boot() != null) args.addAll(List.of("-boot", c.boot()));
        for (String a : c.qemuDrives()) {
            for (int i = 0; i < slots.size(); i++) a = a.replace("%SLOT" + i + "%", slots.get(i));
            args.add(a);
        }
        try (Qtest qemu = new Qtest(args.toArray(String[]::new))) {
            byte[] theirOrder = qemu.file("bootorder");
            assertNotNull(theirOrder);
            assertEquals(new String(theirOrder, StandardCharsets.US_ASCII), new String(ours.file("bootorder"), StandardCharsets.US_ASCII), "bootorder");
            assertArrayEquals(qemu.file("etc/boot-fail-wait"), ours.file("etc/boot-fail-wait"), "etc/boot-fail-wait");
            // RAM ranges; QEMU 7.2 also reserves AMD's HyperTransport hole (0xfd00000000) for AMD CPU models (its TCG default is one)
            assertArrayEquals(ramEntries(qemu.file("etc/e820")), ramEntries(ours.file("etc/e820")), "etc/e820 RAM entries");
            for (int key : new int[] {0x05, 0x0f, 0x0e}) assertArrayEquals(qemu.item(key, 2), ours.item(key, 2), "fw_cfg key " + key);
            for (int reg : new int[] {0x3d, 0x38, 0x5f}) assertEquals(qemu.cmos(reg), ours.cmos(reg), "CMOS " + Integer.toHexString(reg));
            assertNull(qemu.file("etc/sercon-port"), "QEMU 7.2 has no sercon-port of its own (we add it with --serial)");
        }
    }

    /**
     * SeaBIOS itself as the reader of our {@code etc/sercon-port}: QEMU (TCG, no KVM) boots Debian's
     * SeaBIOS with no VGA and nothing to boot, with the item's bytes as we build them; its screen text
     * ("No bootable device") then appears on COM1, which without the item stays silent.
     */
    @Test
    void seaBiosPrintsItsScreenOnCom1WithOurSerconPortItem(@TempDir Path dir) throws Exception {
        assumeTrue(Files.exists(PlatformOptions.DEFAULT_BIOS), "Debian's SeaBIOS is not installed (apt-get install seabios)");
        String qemu = ExternalTool.require("qemu-system-x86_64", "qemu-system-x86").toString();
        FwCfg fw = FirmwareConfig.build(new dev.vmm.memory.GuestMemory(List.of()), 1, List.of(new long[] {0, 128L << 20}), true,
                BootOptions.DEFAULT, new BootOrder(), null, List.of(), UUID.randomUUID());
        Path item = dir.resolve("sercon.bin"), serial = dir.resolve("com1.txt");
        Files.write(item, fw.file("etc/sercon-port"));
        Process p = new ProcessBuilder(qemu, "-M", "pc", "-nodefaults", "-display", "none", "-vga", "none", "-m", "128",
                "-bios", PlatformOptions.DEFAULT_BIOS.toString(), "-fw_cfg", "name=etc/sercon-port,file=" + item,
                "-serial", "file:" + serial).redirectErrorStream(true).redirectOutput(dir.resolve("qemu.log").toFile()).start();
        try {
            long deadline = System.nanoTime() + 60_000_000_000L;
            String text = "";
            while (System.nanoTime() < deadline && !text.contains("No bootable device")) {
                text = Files.exists(serial) ? Files.readString(serial, StandardCharsets.ISO_8859_1) : "";
                if (!p.isAlive()) break;
                Thread.onSpinWait();
            }
            assertTrue(text.contains("No bootable device"), "COM1 got: " + text);
        } finally {
            p.destroyForcibly().waitFor();
        }
    }

    private static byte[] ramEntries(byte[] e820) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (int o = 0; o + 20 <= e820.length; o += 20) if (e820[o + 16] == 1) out.write(e820, o, 20);
        return out.toByteArray();
    }

    private static Path image(Path dir, String name) throws Exception {
        Path p = dir.resolve(name);
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(1 << 20);
        }
        return p;
    }
}
