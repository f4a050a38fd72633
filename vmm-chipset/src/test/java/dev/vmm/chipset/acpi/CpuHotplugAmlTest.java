package dev.vmm.chipset.acpi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CPU hot-plug AML checked by ACPICA: {@code iasl -d} disassembles it cleanly and {@code acpiexec}
 * runs {@code _STA} and {@code CSCN} against register contents taken from a Java
 * {@link AcpiCpuHotplug} in a given state.
 */
@Timeout(120)
class CpuHotplugAmlTest {
    static final int[] POSSIBLE = {0, 1, 2};

    static AcpiTablesTest.Parsed tables(boolean hotplug) {
        AcpiTables.Builder b = AcpiTablesTest.fullBuilder(1);
        if (hotplug) b.cpuHotplug(AcpiCpuHotplug.PIIX_BASE, POSSIBLE);
        return AcpiTablesTest.walk(b.build(AcpiTablesTest.BASE).bytes());
    }

    /** Without the option nothing of it is in the DSDT (AcpiTablesTest's byte-exact iasl round trips cover the rest). */
    @Test
    void theHotplugObjectsAppearOnlyWithTheOption() {
        String off = new String(tables(false).dsdt().bytes(), java.nio.charset.StandardCharsets.ISO_8859_1);
        String on = new String(tables(true).dsdt().bytes(), java.nio.charset.StandardCharsets.ISO_8859_1);
        for (String name : new String[] {"CPUS", "CSCN", "PRST", "C001", "_E02"}) {
            assertThat(off).doesNotContain(name);
            assertThat(on).contains(name);
        }
    }

    @Test
    void iaslDisassemblesTheHotplugObjects(@TempDir Path dir) throws Exception {
        Iasl.assumeInstalled();
        String dsl = Iasl.disassemble(dir, "dsdt", tables(true).dsdt().bytes());
        assertThat(dsl).contains("Device (CPUS)", "\"ACPI0010\"", "OperationRegion (PRST, SystemIO, 0xAF00, 0x0C)",
                "Mutex (CPLK", "Method (CSCN, 0, Serialized)", "Method (CSTA, 1, Serialized)",
                "Device (C000)", "Device (C001)", "Device (C002)", "\"ACPI0007\"",
                "Method (_EJ0, 1", "Method (_OST, 3", "Name (_MAT, Buffer", "Scope (\\_GPE)", "Method (_E02")
                .doesNotContain("Device (C003)");
    }

    /**
     * acpiexec's SystemIO region is plain memory (no device behind it), so each run starts from the
     * bytes the Java device shows for the state under test: {@code -fv} fills the region with the
     * status byte read from {@link AcpiCpuHotplug}, and {@code COST} (which only writes selector,
     * command and data) leaves the command data register holding what the device would return.
     */
    static String acpiexec(Path dir, int flagsByte, long commandData, String... commands) throws Exception {
        assumeTrue(Iasl.acpiexec() != null, "acpiexec not found (package acpica-tools)");
        AcpiTablesTest.Parsed p = tables(true);
        Files.write(dir.resolve("facp.dat"), p.fadt().bytes());
        Files.write(dir.resolve("dsdt.dat"), p.dsdt().bytes());
        String batch = "evaluate \\_SB.CPUS.COST 0 0 " + commandData + " 0; " + String.join("; ", commands);
        Iasl.Result r = Iasl.exec(dir, Iasl.acpiexec(), "-fv", String.valueOf(flagsByte), "-b", batch, "facp.dat", "dsdt.dat");
        String out = r.output().lines().filter(l -> !l.contains("aetests")).reduce("", (a, b) -> a + b + "\n");
        assertThat(out).contains("successfully acquired and loaded")
                .doesNotContain("ACPI Error").doesNotContain("ACPI Warning").doesNotContain("AE_NOT_FOUND").doesNotContain("AE_AML");
        return out;
    }

    static AcpiCpuHotplug device() {
        return new AcpiCpuHotplug(Arrays.stream(POSSIBLE).asLongStream().toArray(), 1, i -> {});
    }

    /** What _STA's CSTA reads: the status byte after selecting {@code cpu}. */
    static int statusOf(AcpiCpuHotplug hp, int cpu) {
        hp.write(AcpiCpuHotplug.SELECTOR_OFFSET, 4, cpu);
        return (int) hp.read(AcpiCpuHotplug.FLAGS_OFFSET, 1);
    }

    @Test
    void staReportsPresentOnlyForAnEnabledCpu(@TempDir Path dir) throws Exception {
        AcpiCpuHotplug hp = device();
        String absent = acpiexec(dir, statusOf(hp, 1), 0, "evaluate \\_SB.CPUS.C001._STA");
        assertThat(absent).contains("Evaluation of \\_SB.CPUS.C001._STA returned").contains("[Integer] = 0000000000000000");

        hp.plug(1);
        String inserted = acpiexec(dir, statusOf(hp, 1), 0, "evaluate \\_SB.CPUS.C001._STA");
        assertThat(inserted).contains("[Integer] = 000000000000000F");

        hp.requestUnplug(1);
        hp.write(AcpiCpuHotplug.FLAGS_OFFSET, 1, AcpiCpuHotplug.CTL_EJECT);
        String ejected = acpiexec(dir, statusOf(hp, 1), 0, "evaluate \\_SB.CPUS.C001._STA");
        assertThat(ejected).contains("[Integer] = 0000000000000000");
    }

    /** CSCN's view after "CSEL = 0; CCMD = 0": the flags and the selector of the CPU with an event. */
    static int[] scanView(AcpiCpuHotplug hp) {
        hp.write(AcpiCpuHotplug.SELECTOR_OFFSET, 4, 0);
        hp.write(AcpiCpuHotplug.COMMAND_OFFSET, 1, AcpiCpuHotplug.CMD_NEXT_EVENT);
        return new int[] {(int) hp.read(AcpiCpuHotplug.FLAGS_OFFSET, 1), (int) hp.read(AcpiCpuHotplug.DATA_OFFSET, 4)};
    }

    @Test
    void cscnSendsDeviceCheckForAnInsertAndEjectRequestForARemove(@TempDir Path dir) throws Exception {
        AcpiCpuHotplug hp = device();
        hp.plug(2);
        int[] v = scanView(hp);
        String out = acpiexec(dir, v[0], v[1], "evaluate \\_SB.CPUS.CSCN");
        assertThat(out).contains("Notify on [C002]").contains("Value 0x01 (Device Check)")
                .doesNotContain("Notify on [C001]").doesNotContain("Notify on [C000]");

        hp.write(AcpiCpuHotplug.FLAGS_OFFSET, 1, AcpiCpuHotplug.CTL_CLEAR_INSERT);
        hp.requestUnplug(2);
        v = scanView(hp);
        out = acpiexec(dir, v[0], v[1], "evaluate \\_SB.CPUS.CSCN");
        assertThat(out).contains("Notify on [C002]").contains("Value 0x03 (Eject Request)").doesNotContain("Device Check");

        hp.write(AcpiCpuHotplug.FLAGS_OFFSET, 1, AcpiCpuHotplug.CTL_CLEAR_REMOVE);
        v = scanView(hp);
        out = acpiexec(dir, v[0], v[1], "evaluate \\_SB.CPUS.CSCN");
        assertThat(out).as("no pending event: no Notify").doesNotContain("Notify on");
    }
}
