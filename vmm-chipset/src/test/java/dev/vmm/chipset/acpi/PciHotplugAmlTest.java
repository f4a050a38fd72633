package dev.vmm.chipset.acpi;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The pc PCI hot-plug AML checked by ACPICA: {@code iasl -d} disassembles it, and {@code acpiexec}
 * runs {@code PCNT}, {@code _ADR}/{@code _SUN} and {@code _EJ0} with the register block's contents
 * taken from a Java {@link Piix4PciHotplug}.
 */
@Timeout(120)
class PciHotplugAmlTest {
    /** Slots 0 (host bridge) and 1 (a bridge, say) are not hot-pluggable. */
    static final int SLOTS = ~0b11;

    static AcpiTablesTest.Parsed tables(boolean hotplug) {
        AcpiTables.Builder b = AcpiTablesTest.fullBuilder(1);
        if (hotplug) b.pciHotplug(Piix4PciHotplug.BASE, SLOTS);
        return AcpiTablesTest.walk(b.build(AcpiTablesTest.BASE).bytes());
    }

    @Test
    void theHotplugObjectsAppearOnlyWithTheOption() {
        String off = new String(tables(false).dsdt().bytes(), java.nio.charset.StandardCharsets.ISO_8859_1);
        String on = new String(tables(true).dsdt().bytes(), java.nio.charset.StandardCharsets.ISO_8859_1);
        for (String name : new String[] {"PCST", "PCNT", "PCEJ", "S02", "S1F", "_E01"}) {
            assertThat(off).doesNotContain(name);
            assertThat(on).contains(name);
        }
        assertThat(on).doesNotContain("S00").doesNotContain("S01");
    }

    @Test
    void iaslDisassemblesTheHotplugObjects(@TempDir Path dir) throws Exception {
        Iasl.assumeInstalled();
        String dsl = Iasl.disassemble(dir, "dsdt", tables(true).dsdt().bytes());
        assertThat(dsl).contains("OperationRegion (PCST, SystemIO, 0xAE00, 0x18)", "Mutex (BLCK", "Method (PCNT, 0",
                "Method (PCEJ, 1", "Device (S02)", "Device (S1F)", "Name (_SUN, 0x1F)", "Name (_ADR, 0x001F0000)",
                "Method (_EJ0, 1", "Scope (\\_GPE)", "Method (_E01")
                .doesNotContain("Device (S00)").doesNotContain("Device (S01)");
    }

    /** acpiexec's SystemIO region is memory filled with one byte ({@code -fv}): every dword register reads that byte four times. */
    static String acpiexec(Path dir, int fill, String... commands) throws Exception {
        assumeTrue(Iasl.acpiexec() != null, "acpiexec not found (package acpica-tools)");
        AcpiTablesTest.Parsed p = tables(true);
        Files.write(dir.resolve("facp.dat"), p.fadt().bytes());
        Files.write(dir.resolve("dsdt.dat"), p.dsdt().bytes());
        Iasl.Result r = Iasl.exec(dir, Iasl.acpiexec(), "-fv", String.valueOf(fill), "-b", String.join("; ", commands), "facp.dat", "dsdt.dat");
        String out = r.output().lines().filter(l -> !l.contains("aetests")).reduce("", (a, b) -> a + b + "\n");
        assertThat(out).contains("successfully acquired and loaded")
                .doesNotContain("ACPI Error").doesNotContain("AE_NOT_FOUND").doesNotContain("AE_AML");
        return out;
    }

    @Test
    void pcntNotifiesTheSlotsTheRegistersName(@TempDir Path dir) throws Exception {
        Piix4PciHotplug hp = new Piix4PciHotplug((s, r) -> { });
        hp.plug(3);
        int pciu = (int) hp.read(Piix4PciHotplug.PCIU, 4);
        assertThat(pciu).isEqualTo(1 << 3);
        // The fill byte is PCIU's low byte; it repeats in bytes 1-3 (slots 11, 19, 27) and in PCID.
        String out = acpiexec(dir, pciu, "evaluate \\_SB.PCI0.PCNT");
        for (String slot : new String[] {"S03", "S0B", "S13", "S1B"}) {
            assertThat(out).contains("Notify on [" + slot + "_] ").containsPattern("Notify on \\[" + slot + "_\\] \\S+ Value 0x01 \\(Device Check\\)")
                    .containsPattern("Notify on \\[" + slot + "_\\] \\S+ Value 0x03 \\(Eject Request\\)");
        }
        assertThat(out).doesNotContain("Notify on [S02_]").doesNotContain("Notify on [S04_]");

        String none = acpiexec(dir, (int) hp.read(Piix4PciHotplug.PCIU, 4), "evaluate \\_SB.PCI0.PCNT");
        assertThat(none).as("PCIU was read: nothing pending").doesNotContain("Notify on");
    }

    @Test
    void slotObjectsDescribeTheirSlotAndEject(@TempDir Path dir) throws Exception {
        String out = acpiexec(dir, 0, "evaluate \\_SB.PCI0.S05._ADR", "evaluate \\_SB.PCI0.S05._SUN",
                "evaluate \\_SB.PCI0.S05._EJ0 1", "evaluate \\_SB.PCI0.PCEJ 5");
        assertThat(out).contains("[Integer] = 0000000000050000").contains("[Integer] = 0000000000000005")
                .contains("No object was returned from evaluation of \\_SB.PCI0.S05._EJ0")
                .contains("Evaluation of \\_SB.PCI0.PCEJ returned");
    }
}
