package dev.vmm.chipset.acpi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vmm.chipset.pci.PciInterruptRouter.Route;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AcpiTablesTest {
    static final long BASE = 0xe0000;

    /** Every root slot and pin, per-slot GSIs 16-23 like the VMM's default router. */
    static List<Route> perSlotRoutes() {
        List<Route> routes = new ArrayList<>();
        for (int slot = 0; slot < 32; slot++)
            for (int pin = 1; pin <= 4; pin++) routes.add(new Route(0, slot, pin, 16 + (slot + pin - 1) % 8));
        return routes;
    }

    static AcpiTables.Builder fullBuilder(int cpus) {
        return AcpiTables.builder(cpus)
                .pciRoutes(perSlotRoutes())
                .pciIoWindow(0x1000, 0xf000)
                .pciMmio32Window(0xc000_0000L, 0x3ec0_0000L)
                .pciMmio64Window(0x100_0000_0000L, 0x40_0000_0000L)
                .ecam(0xb000_0000L, 0, 255)
                .pvpanic(0x505);
    }

    /** A table found through a pointer: verified signature, length inside the image and checksum. */
    record Table(String signature, int offset, int length, int revision, ByteBuffer buf) {
        int u8(int at) { return buf.get(offset + at) & 0xff; }
        int u16(int at) { return buf.getShort(offset + at) & 0xffff; }
        long u32(int at) { return buf.getInt(offset + at) & 0xffff_ffffL; }
        long u64(int at) { return buf.getLong(offset + at); }
        byte[] bytes() { return Arrays.copyOfRange(buf.array(), offset, offset + length); }
    }

    static Table table(byte[] image, long gpa, String expectedSignature) {
        long off = gpa - BASE;
        assertThat(off).as(expectedSignature + " inside the image").isBetween(0L, (long) image.length - 36);
        ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        String sig = new String(image, (int) off, 4, StandardCharsets.US_ASCII);
        assertThat(sig).isEqualTo(expectedSignature);
        int length = b.getInt((int) off + 4);
        assertThat(off + length).as(sig + " length").isLessThanOrEqualTo(image.length);
        if (!sig.equals("FACS")) assertThat(sum(image, (int) off, length)).as(sig + " checksum").isZero();
        return new Table(sig, (int) off, length, image[(int) off + 8] & 0xff, b);
    }

    static int sum(byte[] b, int off, int len) {
        int s = 0;
        for (int i = 0; i < len; i++) s += b[off + i];
        return s & 0xff;
    }

    record Parsed(Table xsdt, Table rsdt, Table fadt, Table facs, Table dsdt, Table madt, Table mcfg) { }

    /** Walks the tables from the RSDP as an OS does. */
    static Parsed walk(byte[] image) {
        ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(new String(image, 0, 8, StandardCharsets.US_ASCII)).isEqualTo("RSD PTR ");
        assertThat(sum(image, 0, 20)).as("RSDP checksum").isZero();
        assertThat(image[15]).as("RSDP revision").isEqualTo((byte) 2);
        assertThat(b.getInt(20)).as("RSDP length").isEqualTo(36);
        assertThat(sum(image, 0, 36)).as("RSDP extended checksum").isZero();
        Table rsdt = table(image, b.getInt(16) & 0xffff_ffffL, "RSDT");
        Table xsdt = table(image, b.getLong(24), "XSDT");
        assertThat(xsdt.revision()).isEqualTo(1);
        int n = (xsdt.length() - 36) / 8;
        assertThat(rsdt.length()).isEqualTo(36 + 4 * n);
        Table fadt = null, madt = null, mcfg = null;
        for (int i = 0; i < n; i++) {
            long p = xsdt.u64(36 + 8 * i);
            assertThat(rsdt.u32(36 + 4 * i)).as("RSDT and XSDT agree").isEqualTo(p);
            String sig = new String(image, (int) (p - BASE), 4, StandardCharsets.US_ASCII);
            Table t = table(image, p, sig);
            switch (sig) {
                case "FACP" -> fadt = t;
                case "APIC" -> madt = t;
                case "MCFG" -> mcfg = t;
                case "HPET" -> { } // checked by Q35AcpiTablesTest
                default -> throw new AssertionError("unexpected table " + sig);
            }
        }
        assertThat(fadt).isNotNull();
        assertThat(madt).isNotNull();
        assertThat(fadt.u64(140)).as("X_DSDT = DSDT").isEqualTo(fadt.u32(40));
        assertThat(fadt.u64(132)).as("X_FIRMWARE_CTRL = FIRMWARE_CTRL").isEqualTo(fadt.u32(36));
        Table dsdt = table(image, fadt.u64(140), "DSDT");
        Table facs = table(image, fadt.u64(132), "FACS");
        return new Parsed(xsdt, rsdt, fadt, facs, dsdt, madt, mcfg);
    }

    @Test
    void tablesChainFromTheRsdp() {
        AcpiTables t = fullBuilder(4).build(BASE);
        assertThat(t.rsdpAddress()).isEqualTo(BASE);
        assertThat(t.address()).isEqualTo(BASE);
        byte[] image = t.bytes();
        assertThat(image).hasSize(t.size());
        Parsed p = walk(image);
        assertThat(p.mcfg()).isNotNull();
        assertThat(p.fadt().length()).isEqualTo(276);
        assertThat(p.fadt().revision()).isEqualTo(6);
        assertThat(p.madt().revision()).isEqualTo(4);
        assertThat(p.dsdt().revision()).as("64-bit AML integers").isEqualTo(2);
        assertThat(p.facs().length()).isEqualTo(64);
        assertThat((BASE + p.facs().offset()) % 64).as("FACS 64-byte aligned").isZero();
        assertThat(p.facs().u8(32)).as("FACS version").isEqualTo(2);
        assertThat(t.tableAddresses()).containsKeys("RSD PTR ", "FACS", "DSDT", "FACP", "APIC", "MCFG", "XSDT", "RSDT");
        assertThat(t.tableAddresses().get("DSDT")).isEqualTo(BASE + p.dsdt().offset());
        // Everything fits the BIOS area below the MP table at 0xf0000 even at the maximum CPU count.
        assertThat(fullBuilder(255).build(BASE).size()).isLessThan(0x10000);
    }

    @Test
    void withoutEcamThereIsNoMcfg() {
        Parsed p = walk(AcpiTables.builder(1).build(BASE).bytes());
        assertThat(p.mcfg()).isNull();
        assertThat(p.xsdt().length()).isEqualTo(36 + 16);
    }

    @Test
    void fadtDescribesThePmBlockResetRegisterAndLegacyHardware() {
        Table f = walk(fullBuilder(2).pm(0x700, 9).build(BASE).bytes()).fadt();
        assertThat(f.u16(46)).as("SCI_INT").isEqualTo(9);
        assertThat(f.u32(48)).as("SMI_CMD: no mode switch").isZero();
        assertThat(f.u32(56)).as("PM1a_EVT_BLK").isEqualTo(0x700);
        assertThat(f.u32(64)).as("PM1a_CNT_BLK").isEqualTo(0x704);
        assertThat(f.u32(76)).as("PM_TMR_BLK").isEqualTo(0x708);
        assertThat(f.u8(88)).isEqualTo(4);
        assertThat(f.u8(89)).isEqualTo(2);
        assertThat(f.u8(91)).isEqualTo(4);
        assertThat(f.u8(108)).as("CENTURY").isEqualTo(0x32);
        assertThat(f.u16(109) & 0x2).as("IAPC_BOOT_ARCH 8042").isNotZero();
        long flags = f.u32(112);
        assertThat(flags & (1 << 10)).as("RESET_REG_SUP").isNotZero();
        assertThat(flags & (1 << 8)).as("TMR_VAL_EXT").isNotZero();
        assertThat(flags & (1 << 20)).as("not HW_REDUCED").isZero();
        assertThat(f.u8(116)).as("reset reg in system I/O").isEqualTo(1);
        assertThat(f.u8(117)).as("reset reg width").isEqualTo(8);
        assertThat(f.u64(120)).as("reset port").isEqualTo(0xcf9);
        assertThat(f.u8(128)).as("reset value").isEqualTo(6);
        assertThat(f.u8(148)).isEqualTo(1);
        assertThat(f.u64(152)).as("X_PM1a_EVT_BLK").isEqualTo(0x700);
        assertThat(f.u64(176)).as("X_PM1a_CNT_BLK").isEqualTo(0x704);
        assertThat(f.u64(212)).as("X_PM_TMR_BLK").isEqualTo(0x708);

        Table noTimer = walk(AcpiTables.builder(1).pmTimer(false).build(BASE).bytes()).fadt();
        assertThat(noTimer.u32(76)).isZero();
        assertThat(noTimer.u8(91)).isZero();
        assertThat(noTimer.u32(112) & (1 << 8)).isZero();
        assertThat(noTimer.u64(212)).isZero();
    }

    @Test
    void madtListsEveryCpuTheIoApicAndTheOverrides() {
        int[] ids = {0, 2, 4, 6, 8};
        List<Route> pirq = new ArrayList<>();
        for (int slot = 0; slot < 32; slot++)
            for (int pin = 1; pin <= 4; pin++) pirq.add(new Route(0, slot, pin, (slot + pin) % 2 == 0 ? 10 : 11));
        Table m = walk(AcpiTables.builder(5).apicIds(ids).pciRoutes(pirq).build(BASE).bytes()).madt();
        assertThat(m.u32(36)).isEqualTo(0xfee0_0000L);
        assertThat(m.u32(40) & 1).as("PCAT_COMPAT").isEqualTo(1);
        List<int[]> lapics = new ArrayList<>();
        List<long[]> ioapics = new ArrayList<>();
        List<long[]> overrides = new ArrayList<>();
        List<int[]> nmis = new ArrayList<>();
        for (int p = 44; p < m.length(); ) {
            int type = m.u8(p), len = m.u8(p + 1);
            assertThat(len).isPositive();
            switch (type) {
                case 0 -> { assertThat(len).isEqualTo(8); lapics.add(new int[] {m.u8(p + 2), m.u8(p + 3), (int) m.u32(p + 4)}); }
                case 1 -> { assertThat(len).isEqualTo(12); ioapics.add(new long[] {m.u8(p + 2), m.u32(p + 4), m.u32(p + 8)}); }
                case 2 -> { assertThat(len).isEqualTo(10); overrides.add(new long[] {m.u8(p + 2), m.u8(p + 3), m.u32(p + 4), m.u16(p + 8)}); }
                case 4 -> { assertThat(len).isEqualTo(6); nmis.add(new int[] {m.u8(p + 2), m.u16(p + 3), m.u8(p + 5)}); }
                default -> throw new AssertionError("unexpected MADT entry type " + type);
            }
            p += len;
        }
        assertThat(lapics).hasSize(5);
        for (int i = 0; i < 5; i++) assertThat(lapics.get(i)).containsExactly(i, ids[i], 1);
        assertThat(ioapics).hasSize(1);
        assertThat(ioapics.get(0)).containsExactly(9, 0xfec0_0000L, 0); // id after the highest APIC id
        assertThat(overrides).containsExactly(
                new long[] {0, 0, 2, 0x0},    // IRQ 0 -> GSI 2
                new long[] {0, 9, 9, 0xd},    // SCI: level, active high
                new long[] {0, 10, 10, 0xf},  // PCI on ISA IRQs: level, active low
                new long[] {0, 11, 11, 0xf});
        assertThat(nmis).hasSize(1);
        assertThat(nmis.get(0)).containsExactly(0xff, 0, 1);
    }

    @Test
    void mcfgDescribesTheEcamWindow() {
        Table mc = walk(fullBuilder(1).ecam(0xe000_0000L, 0, 63).build(BASE).bytes()).mcfg();
        assertThat(mc.length()).isEqualTo(60);
        assertThat(mc.u64(44)).isEqualTo(0xe000_0000L);
        assertThat(mc.u16(52)).as("segment").isZero();
        assertThat(mc.u8(54)).isZero();
        assertThat(mc.u8(55)).isEqualTo(63);
    }

    @Test
    void rejectsBadInput() {
        assertThatThrownBy(() -> AcpiTables.builder(0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> AcpiTables.builder(256)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> AcpiTables.builder(1).build(BASE + 8)).hasMessageContaining("aligned");
        assertThatThrownBy(() -> AcpiTables.builder(1).build(0xffff_ff00L)).hasMessageContaining("4 GiB");
        assertThatThrownBy(() -> AcpiTables.builder(2).apicIds(1, 1)).hasMessageContaining("duplicate");
        assertThatThrownBy(() -> AcpiTables.builder(1).pciRoutes(List.of(new Route(1, 0, 1, 16))))
                .hasMessageContaining("root bus");
        assertThatThrownBy(() -> AcpiTables.builder(1).pciRoutes(List.of(new Route(0, 1, 1, 16), new Route(0, 1, 1, 17))))
                .hasMessageContaining("twice");
        assertThatThrownBy(() -> AcpiTables.builder(1).pciRoutes(List.of(new Route(0, 1, 1, 9))).build(BASE))
                .hasMessageContaining("SCI");
        assertThatThrownBy(() -> AcpiTables.builder(1).pm(0x601, 9)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> AcpiTables.builder(1).pm(0x600, 2)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> AcpiTables.builder(1).pciIoWindow(0xf000, 0x2000)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> AcpiTables.builder(1).pciMmio32Window(0xf000_0000L, 0x2000_0000L))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> AcpiTables.builder(1).ecam(0xb000_1000L, 0, 1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> AcpiTables.builder(1).oemId("TOOLONG")).isInstanceOf(IllegalArgumentException.class);
    }

    // ---- iasl: the reference disassembler/compiler ----

    @Test
    void iaslDisassemblesEveryTableCleanlyAndRecompilesTheDsdtToTheSameAml(@TempDir Path dir) throws Exception {
        Iasl.assumeInstalled();
        byte[] image = fullBuilder(4).build(BASE).bytes();
        Parsed p = walk(image);
        for (Table t : List.of(p.fadt(), p.madt(), p.mcfg(), p.dsdt(), p.facs(), p.xsdt(), p.rsdt())) {
            String dsl = Iasl.disassemble(dir, t.signature().toLowerCase(), t.bytes());
            assertThat(dsl).as(t.signature()).doesNotContainIgnoringCase("error").doesNotContainIgnoringCase("warning")
                    .doesNotContain("Unknown").doesNotContain("**** ");
        }
        // Compiling the disassembly (without iasl's name-path optimisations) must give back our
        // exact bytes: every opcode, PkgLength and descriptor is what ACPICA itself would emit.
        for (Table t : List.of(p.dsdt(), p.fadt(), p.madt(), p.mcfg())) {
            String name = t.signature().toLowerCase();
            Iasl.Result r = Iasl.run(dir, "-oa", "-p", name + "-re", name + ".dsl");
            assertThat(r.exitCode()).as(r.output()).isZero();
            assertThat(r.output()).contains("0 Errors, 0 Warnings");
            byte[] back = Files.readAllBytes(dir.resolve(name + "-re.aml"));
            assertThat(Arrays.copyOfRange(back, 36, back.length)).as(t.signature() + " body")
                    .isEqualTo(Arrays.copyOfRange(t.bytes(), 36, t.length()));
        }
    }

    @Test
    void iaslSeesTheDevicesRoutesAndResourcesInTheDsdt(@TempDir Path dir) throws Exception {
        Iasl.assumeInstalled();
        List<Route> routes = perSlotRoutes();
        Table d = walk(fullBuilder(2).serialPorts(List.of(new AcpiTables.SerialPort(0x3f8, 4),
                new AcpiTables.SerialPort(0x2f8, 3))).build(BASE).bytes()).dsdt();
        // Without comments and with whitespace collapsed, so assertions read like one-line ASL.
        String dsl = Iasl.disassemble(dir, "dsdt", d.bytes()).replaceAll("(?s)/\\*.*?\\*/", "")
                .replaceAll("//[^\n]*", "").replaceAll("\\s+", " ");
        assertThat(dsl).contains("Scope (\\_SB)")
                .contains("Device (PCI0)")
                .contains("Name (_HID, EisaId (\"PNP0A03\") )")
                .contains("Name (_UID, Zero)")
                .contains("Name (_BBN, Zero)")
                .contains("WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0x0000, 0x0000, 0x00FF, 0x0000, 0x0100, ,, )")
                .contains("IO (Decode16, 0x0CF8, 0x0CF8, 0x01, 0x08, )")
                .contains("WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0x0000, 0x1000, 0xFFFF, 0x0000, 0xF000,")
                .contains("DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite, 0x00000000, 0xC0000000, 0xFEBFFFFF, 0x00000000, 0x3EC00000,")
                .contains("QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite, 0x0000000000000000, 0x0000010000000000, 0x0000013FFFFFFFFF, 0x0000000000000000, 0x0000004000000000,")
                .contains("Name (_PRT, Package (0x80) {")
                .contains("Device (COM1) { Name (_HID, EisaId (\"PNP0501\") ) Name (_UID, One) Name (_CRS, ResourceTemplate () { IO (Decode16, 0x03F8, 0x03F8, 0x01, 0x08, ) IRQNoFlags () {4} }) }")
                .contains("Device (COM2) { Name (_HID, EisaId (\"PNP0501\") ) Name (_UID, 0x02) Name (_CRS, ResourceTemplate () { IO (Decode16, 0x02F8, 0x02F8, 0x01, 0x08, ) IRQNoFlags () {3} }) }")
                .contains("Device (KBD) { Name (_HID, EisaId (\"PNP0303\") ) Name (_CRS, ResourceTemplate () { IO (Decode16, 0x0060, 0x0060, 0x01, 0x01, ) IO (Decode16, 0x0064, 0x0064, 0x01, 0x01, ) IRQNoFlags () {1} }) }")
                .contains("Device (RTC) { Name (_HID, EisaId (\"PNP0B00\") ) Name (_CRS, ResourceTemplate () { IO (Decode16, 0x0070, 0x0070, 0x01, 0x02, ) IRQNoFlags () {8} }) }")
                .contains("Device (PEVT) { Name (_HID, \"QEMU0001\") Name (_CRS, ResourceTemplate () { IO (Decode16, 0x0505, 0x0505, 0x01, 0x01, ) }) }")
                .contains("Name (\\_S5, Package (0x04) { 0x05, 0x05, Zero, Zero })")
                .doesNotContain("Method");
        // Each _PRT entry, in order.
        Matcher m = Pattern.compile("Package \\(0x04\\) \\{ (\\w+), (\\w+), (\\w+), (\\w+) \\}").matcher(dsl);
        List<long[]> prt = new ArrayList<>();
        while (m.find()) prt.add(new long[] {aml(m.group(1)), aml(m.group(2)), aml(m.group(3)), aml(m.group(4))});
        prt.remove(prt.size() - 1); // \_S5
        assertThat(prt).hasSize(routes.size());
        for (int i = 0; i < routes.size(); i++) {
            Route r = routes.get(i);
            assertThat(prt.get(i)).containsExactly(r.acpiAddress(), r.acpiPin(), 0, r.gsi());
        }
    }

    @Test
    void acpicaLoadsTheNamespaceAndEvaluatesTheObjects(@TempDir Path dir) throws Exception {
        Iasl.assumeInstalled();
        org.junit.jupiter.api.Assumptions.assumeTrue(Iasl.acpiexec() != null, "acpiexec not found (package acpica-tools)");
        Parsed p = walk(fullBuilder(2).build(BASE).bytes());
        Files.write(dir.resolve("facp.dat"), p.fadt().bytes());
        Files.write(dir.resolve("dsdt.dat"), p.dsdt().bytes());
        Files.write(dir.resolve("apic.dat"), p.madt().bytes());
        Files.write(dir.resolve("mcfg.dat"), p.mcfg().bytes());
        Iasl.Result r = Iasl.exec(dir, Iasl.acpiexec(), "-b",
                "evaluate \\_SB.PCI0._PRT; evaluate \\_S5; evaluate \\_SB.PCI0._CRS; evaluate \\_SB.COM1._HID",
                "facp.dat", "dsdt.dat", "apic.dat", "mcfg.dat");
        // acpiexec's own self-tests complain about GPEs (the FADT declares no GPE block): not ours.
        String out = r.output().lines().filter(l -> !l.contains("aetests")).reduce("", (a, b) -> a + b + "\n");
        assertThat(out).contains("0 Methods")
                .contains("successfully acquired and loaded")
                .contains("Evaluation of \\_SB.PCI0._PRT returned")
                .contains("[Package] Contains 128 Elements:")
                .contains("Evaluation of \\_S5 returned")
                .contains("[Integer] = 000000000105D041") // COM1 _HID, EisaId PNP0501
                .doesNotContain("ACPI Error").doesNotContain("ACPI Warning").doesNotContain("Firmware Bug")
                .doesNotContain("AE_NOT_FOUND").doesNotContain("AE_AML");
    }

    private static long aml(String s) {
        return switch (s) {
            case "Zero" -> 0;
            case "One" -> 1;
            default -> Long.parseLong(s.substring(2), 16);
        };
    }
}
