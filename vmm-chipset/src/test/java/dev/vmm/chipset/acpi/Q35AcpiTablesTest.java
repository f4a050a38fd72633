package dev.vmm.chipset.acpi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vmm.chipset.pci.PciInterruptRouter.Route;
import dev.vmm.chipset.timer.Hpet;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The q35 variant of the tables (PCI Express host, LPC, HPET, MCFG, GPE0, 24-bit PM timer) through iasl and acpiexec. */
class Q35AcpiTablesTest {
    static final long BASE = AcpiTablesTest.BASE;

    /** PIRQ A-H on GSIs 16-23: slot S pin P uses PIRQ (S + P - 1) mod 8. */
    static List<Route> pirqRoutes() {
        List<Route> routes = new ArrayList<>();
        for (int slot = 0; slot < 32; slot++)
            for (int pin = 1; pin <= 4; pin++) routes.add(new Route(0, slot, pin, 16 + ((slot + pin - 1) & 7)));
        return routes;
    }

    static AcpiTables.Builder q35() {
        return AcpiTables.builder(2).pciRoutes(pirqRoutes()).pciIoWindow(0x1000, 0xf000)
                .pciMmio32Window(0xc000_0000L, 0x3ec0_0000L).pciMmio64Window(0x100_0000_0000L, 0x40_0000_0000L)
                .ecam(0xb000_0000L, 0, 255).pciExpress(true).hpet(Hpet.DEFAULT_BASE, Hpet.capabilities())
                .gpe0(0x20, 16).pmTimerWidth(24);
    }

    static String flat(String dsl) {
        return dsl.replaceAll("(?s)/\\*.*?\\*/", "").replaceAll("//[^\n]*", "").replaceAll("\\s+", " ");
    }

    @Test
    @Timeout(120)
    void iaslDisassemblesTheQ35TablesAndRecompilesTheDsdtToTheSameAml(@TempDir Path dir) throws Exception {
        Iasl.assumeInstalled();
        byte[] image = q35().build(BASE).bytes();
        AcpiTablesTest.Parsed p = AcpiTablesTest.walk(image);
        AcpiTables t = q35().build(BASE);
        AcpiTablesTest.Table hpet = AcpiTablesTest.table(image, t.tableAddresses().get("HPET"), "HPET");
        assertThat(p.xsdt().length()).isEqualTo(36 + 8 * 4);   // FACP, APIC, MCFG, HPET

        for (AcpiTablesTest.Table tb : List.of(p.dsdt(), p.fadt(), p.mcfg(), hpet)) {
            String dsl = Iasl.disassemble(dir, tb.signature().toLowerCase(), tb.bytes());
            assertThat(dsl).as(tb.signature()).doesNotContainIgnoringCase("error").doesNotContainIgnoringCase("warning")
                    .doesNotContain("Unknown").doesNotContain("**** ");
        }
        String dsdt = flat(Files.readString(dir.resolve("dsdt.dsl")));
        assertThat(dsdt).contains("Device (PCI0) { Name (_HID, EisaId (\"PNP0A08\") ) Name (_CID, EisaId (\"PNP0A03\") )")
                .contains("Method (_OSC, 4, NotSerialized) { CreateDWordField (Arg3, Zero, CDW1) If ((Arg0 == ToUUID (\"33db4d5b-1ff7-401c-9657-7441c03dd766\") ))")
                .contains("Local0 &= 0x1F")
                .contains("Device (LPC) { Name (_ADR, 0x001F0000)")
                .contains("Device (HPET) { Name (_HID, EisaId (\"PNP0103\") ) Name (_UID, Zero) Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, 0xFED00000, 0x00000400, ) }) }")
                .contains("Device (MRES) { Name (_HID, EisaId (\"PNP0C02\") ) Name (_UID, One) Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, 0xB0000000, 0x10000000, ) }) }")
                .contains("Device (RTC) {").contains("Device (KBD) {").contains("Device (COM1) {")
                .contains("Package (0x04) { 0x001FFFFF, 0x03, Zero, 0x12 }");   // slot 31 INTD: PIRQ (31 + 3) mod 8 = C, GSI 18
        String hpetDsl = Files.readString(dir.resolve("hpet.dsl"));
        assertThat(hpetDsl).containsPattern("Hardware Block ID : 8086A201")
                .containsPattern("Address : 00000000FED00000");
        String fadt = Files.readString(dir.resolve("facp.dsl"));
        assertThat(fadt).containsPattern("GPE0 Block Address : 00000620")
                .containsPattern("GPE0 Block Length : 10")
                .containsPattern("32-bit PM Timer \\(V1\\) : 0")
                .containsPattern("PM Timer Block Address : 00000608");

        Iasl.Result r = Iasl.run(dir, "-oa", "-p", "dsdt-re", "dsdt.dsl");
        assertThat(r.exitCode()).as(r.output()).isZero();
        byte[] back = Files.readAllBytes(dir.resolve("dsdt-re.aml"));
        assertThat(Arrays.copyOfRange(back, 36, back.length)).as("DSDT body incl. _OSC")
                .isEqualTo(Arrays.copyOfRange(p.dsdt().bytes(), 36, p.dsdt().length()));
    }

    @Test
    @Timeout(120)
    void acpicaLoadsTheQ35NamespaceAndRunsOsc(@TempDir Path dir) throws Exception {
        Iasl.assumeInstalled();
        org.junit.jupiter.api.Assumptions.assumeTrue(Iasl.acpiexec() != null, "acpiexec not found (package acpica-tools)");
        byte[] image = q35().build(BASE).bytes();
        AcpiTablesTest.Parsed p = AcpiTablesTest.walk(image);
        AcpiTables t = q35().build(BASE);
        Files.write(dir.resolve("facp.dat"), p.fadt().bytes());
        Files.write(dir.resolve("dsdt.dat"), p.dsdt().bytes());
        Files.write(dir.resolve("apic.dat"), p.madt().bytes());
        Files.write(dir.resolve("mcfg.dat"), p.mcfg().bytes());
        Files.write(dir.resolve("hpet.dat"), AcpiTablesTest.table(image, t.tableAddresses().get("HPET"), "HPET").bytes());
        Iasl.Result r = Iasl.exec(dir, Iasl.acpiexec(), "-b",
                "evaluate \\_SB.PCI0._PRT; evaluate \\_SB.MRES._CRS; evaluate \\_SB.PCI0.LPC.HPET._HID; evaluate \\_SB.PCI0._CID; "
                        // _OSC(PCI host bridge UUID, revision 1, 3 dwords, {query 0, support 0x1F, control 0x1F}) and a wrong UUID
                        + "evaluate \\_SB.PCI0._OSC (5B 4D DB 33 F7 1F 1C 40 96 57 74 41 C0 3D D7 66) 1 3 (00 00 00 00 1F 00 00 00 1F 00 00 00); "
                        + "evaluate \\_SB.PCI0._OSC (5B 4D DB 33 F7 1F 1C 40 96 57 74 41 C0 3D D7 66) 2 3 (00 00 00 00 1F 00 00 00 3F 00 00 00); "
                        + "evaluate \\_SB.PCI0._OSC (00 11 22 33 44 55 66 77 88 99 AA BB CC DD EE FF) 1 3 (00 00 00 00 1F 00 00 00 1F 00 00 00)",
                "facp.dat", "dsdt.dat", "apic.dat", "mcfg.dat", "hpet.dat");
        String out = r.output().lines().filter(l -> !l.contains("aetests")).reduce("", (a, b) -> a + b + "\n");
        assertThat(out).contains("1 Methods")
                .contains("successfully acquired and loaded")
                .contains("[Package] Contains 128 Elements:")
                .contains("Evaluation of \\_SB.MRES._CRS returned")
                .contains("[Integer] = 000000000301D041")   // PNP0103
                .contains("[Integer] = 00000000030AD041")   // PNP0A03
                // _OSC: all five controls granted; revision 2 -> unknown revision + masked; other UUID -> unrecognised.
                .contains("[Buffer] Length 0C =     0000: 00 00 00 00 1F 00 00 00 1F 00 00 00")
                .contains("[Buffer] Length 0C =     0000: 18 00 00 00 1F 00 00 00 1F 00 00 00")
                .contains("[Buffer] Length 0C =     0000: 04 00 00 00 1F 00 00 00 1F 00 00 00")
                .doesNotContain("ACPI Error").doesNotContain("ACPI Warning").doesNotContain("Firmware Bug")
                .doesNotContain("AE_NOT_FOUND").doesNotContain("AE_AML");
    }

    @Test
    void ecamMustNotOverlapThePciWindow() {
        assertThatThrownBy(() -> q35().pciMmio32Window(0xa000_0000L, 0x5000_0000L).build(BASE))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("ECAM");
    }
}
