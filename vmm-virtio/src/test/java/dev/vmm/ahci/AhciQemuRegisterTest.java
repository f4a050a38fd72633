package dev.vmm.ahci;

import dev.vmm.chipset.pci.PciConfigSpace;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The oracle for the controller's identity and reset values: QEMU 7.2's ICH9 AHCI at 00:1f.2 of
 * {@code -M q35}, with a disk on port 0 and a CD-ROM on port 2, read through its monitor at test
 * time, against ours with the same drives. Compared: config header fields, the capability list
 * (ids and bodies, not their offsets), BAR sizes, the ICH9 MAP register, every HBA register and
 * every port register of the six ports. Differences allowed: CAP.SCLO (bit 24), since we implement
 * PxCMD.CLO and say so and QEMU does not; the upper 16 bits of the I/O BAR (see below).
 */
@Timeout(120)
class AhciQemuRegisterTest {
    static final int DEV = 0x1F, FN = 2;
    static final long ABAR = 0xE000_0000L;

    @TempDir Path dir;

    /** The config fields and capability chain, from a config-dword reader. */
    interface ConfigReader {
        int read(int offset) throws Exception;
    }

    private static List<String> identity(ConfigReader c) throws Exception {
        List<String> out = new ArrayList<>();
        out.add(String.format("ids %08x", c.read(0x00)));
        out.add(String.format("status %04x", c.read(0x04) >>> 16));
        out.add(String.format("class/rev %08x", c.read(0x08)));
        out.add(String.format("subsystem %08x", c.read(0x2C)));
        out.add(String.format("pin %02x", c.read(0x3C) >>> 8 & 0xFF));
        out.add(String.format("map %02x", c.read(0x90) & 0xFF));
        int p = c.read(0x34) & 0xFC;
        while (p != 0) {
            int h = c.read(p);
            int id = h & 0xFF;
            int words = id == 0x05 ? 3 : id == 0x12 ? 1 : 0;
            StringBuilder sb = new StringBuilder(String.format("cap %02x body %04x", id, h >>> 16));
            for (int i = 1; i <= words; i++) sb.append(String.format(" %08x", c.read(p + 4 * i)));
            out.add(sb.toString());
            p = h >>> 8 & 0xFC;
        }
        return out;
    }

    @Test
    void resetValuesMatchQemu() throws Exception {
        assumeTrue(QemuHmp.available(), "qemu-system-x86_64 is not installed");
        Path img = dir.resolve("disk.raw");
        Files.write(img, new byte[1 << 20]);
        List<String> qemuIdentity;
        int[] qemuBarSizes = new int[6];
        int[] qemuRegs;
        try (QemuHmp q = new QemuHmp(List.of("-machine", "q35",
                "-drive", "file=" + img + ",if=none,id=d0,format=raw", "-device", "ide-hd,drive=d0,bus=ide.0",
                "-drive", "if=none,id=cd,media=cdrom", "-device", "ide-cd,drive=cd,bus=ide.2"))) {
            qemuIdentity = identity(off -> q.config(DEV, FN, off));
            for (int bar = 0; bar < 6; bar++) {
                int off = PciConfigSpace.BAR0 + 4 * bar;
                q.configWrite(DEV, FN, off, -1);
                qemuBarSizes[bar] = q.config(DEV, FN, off);
            }
            q.configWrite(DEV, FN, PciConfigSpace.BAR0 + 4 * AhciController.ABAR, (int) ABAR);
            q.configWrite(DEV, FN, PciConfigSpace.COMMAND, PciConfigSpace.COMMAND_MEMORY | PciConfigSpace.COMMAND_BUS_MASTER);
            qemuRegs = q.readDwords(ABAR, (AhciController.PORT_BASE + AhciController.PORTS * AhciController.PORT_SIZE) / 4);
        }

        try (TestRam ram = new TestRam(0, 1 << 20)) {
            AhciController ours = new AhciController(ram.memory, AhciIo.inline(), (v, a, d) -> { }, Arrays.asList(
                    new AtaDisk(new MemoryDisk(new byte[1 << 20], false), AtaDisk.Config.of("Q")), null,
                    new AtapiCdrom(null, "CD")));
            List<String> ourIdentity = identity(off -> ours.configRead(off, 4));
            assertEquals(qemuIdentity, ourIdentity, "config space identity and capabilities");
            int[] ourBarSizes = new int[6];
            for (int bar = 0; bar < 6; bar++) {
                int off = PciConfigSpace.BAR0 + 4 * bar;
                ours.configWrite(off, 4, -1);
                ourBarSizes[bar] = ours.configRead(off, 4);
            }
            // I/O BARs: the project's PciConfigSpace hardwires bits 31:16 to 0 (x86 ports are 16 bits), QEMU keeps
            // them writable; both are allowed by PCI, so an I/O BAR compares its low 16 bits.
            for (int bar = 0; bar < 6; bar++) {
                if ((qemuBarSizes[bar] & 1) != 0) qemuBarSizes[bar] &= 0xFFFF;
            }
            assertArrayEquals(qemuBarSizes, ourBarSizes, "BAR sizes and types");
            int[] ourRegs = new int[qemuRegs.length];
            for (int i = 0; i < ourRegs.length; i++) ourRegs[i] = (int) ours.barRead(AhciController.ABAR, 4L * i, 4);
            assertEquals(1 << 24, ourRegs[0] ^ qemuRegs[0], "CAP differs in SCLO only");
            ourRegs[0] = qemuRegs[0];
            for (int i = 0; i < ourRegs.length; i++) {
                assertEquals(String.format("%08x", qemuRegs[i]), String.format("%08x", ourRegs[i]),
                        String.format("ABAR register 0x%03x", 4 * i));
            }
        }
    }
}
