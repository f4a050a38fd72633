package dev.vmm.chipset.acpi;

import dev.vmm.chipset.testing.RecordingLine;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * S3/S4: the DSDT's {@code \_S3}/{@code \_S4} packages (checked with iasl and evaluated by
 * acpiexec, ACPICA itself) carry the sleep types that AcpiPm reports to its sleep listener.
 */
class AcpiSleepStatesTest {
    private static final long BASE = 0xE0000;
    private static final int CNT = 4, STS = 0;

    /** The table with {@code signature} cut out of the image. */
    private static byte[] table(AcpiTables t, String signature) {
        byte[] image = t.bytes();
        int off = (int) (t.tableAddresses().get(signature) - t.address());
        int len = ByteBuffer.wrap(image, off + 4, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
        return Arrays.copyOfRange(image, off, off + len);
    }

    private static String oneLine(String dsl) {
        return dsl.replaceAll("(?s)/\\*.*?\\*/", "").replaceAll("//[^\n]*", "").replaceAll("\\s+", " ");
    }

    @Test
    void theDsdtOffersS3AndS4OnlyWhenAsked(@TempDir Path dir) throws Exception {
        Iasl.assumeInstalled();
        String both = oneLine(Iasl.disassemble(dir, "both", table(AcpiTables.builder(1).sleepStates(true, true).build(BASE), "DSDT")));
        assertThat(both).contains("Name (\\_S3, Package (0x04) { One, One, Zero, Zero })")
                .contains("Name (\\_S4, Package (0x04) { 0x02, 0x02, Zero, Zero })")
                .contains("Name (\\_S5, Package (0x04) { 0x05, 0x05, Zero, Zero })");
        String none = oneLine(Iasl.disassemble(dir, "none", table(AcpiTables.builder(1).build(BASE), "DSDT")));
        assertThat(none).doesNotContain("_S3").doesNotContain("_S4").contains("_S5");
        String s4only = oneLine(Iasl.disassemble(dir, "s4", table(AcpiTables.builder(1).sleepStates(false, true).build(BASE), "DSDT")));
        assertThat(s4only).doesNotContain("_S3").contains("\\_S4");
        // Recompiling the disassembly gives back the same bytes (the encoding is ACPICA's own).
        Iasl.Result r = Iasl.run(dir, "-oa", "-p", "both-re", "both.dsl");
        assertThat(r.output()).contains("0 Errors, 0 Warnings");
        byte[] dsdt = table(AcpiTables.builder(1).sleepStates(true, true).build(BASE), "DSDT");
        byte[] back = Files.readAllBytes(dir.resolve("both-re.aml"));
        assertThat(Arrays.copyOfRange(back, 36, back.length)).isEqualTo(Arrays.copyOfRange(dsdt, 36, dsdt.length));
    }

    @Test
    void acpicaEvaluatesTheSleepPackages(@TempDir Path dir) throws Exception {
        Iasl.assumeInstalled();
        org.junit.jupiter.api.Assumptions.assumeTrue(Iasl.acpiexec() != null, "acpiexec not found (package acpica-tools)");
        AcpiTables t = AcpiTables.builder(1).sleepStates(true, true).build(BASE);
        Files.write(dir.resolve("facp.dat"), table(t, "FACP"));
        Files.write(dir.resolve("dsdt.dat"), table(t, "DSDT"));
        Files.write(dir.resolve("apic.dat"), table(t, "APIC"));
        Iasl.Result r = Iasl.exec(dir, Iasl.acpiexec(), "-b", "evaluate \\_S3; evaluate \\_S4", "facp.dat", "dsdt.dat", "apic.dat");
        String out = r.output().lines().filter(l -> !l.contains("aetests")).reduce("", (a, b) -> a + b + "\n");
        assertThat(out).contains("Evaluation of \\_S3 returned").contains("Evaluation of \\_S4 returned")
                .doesNotContain("AE_NOT_FOUND").doesNotContain("ACPI Error").doesNotContain("AE_AML");
        // The first element of each package: SLP_TYPa as AcpiPm expects it.
        List<String> ints = new ArrayList<>();
        out.lines().filter(l -> l.contains("[Integer] =")).forEach(l -> ints.add(l.replaceAll(".*\\[Integer\\] = ", "").strip()));
        assertThat(ints).containsSubsequence("0000000000000001", "0000000000000001", "0000000000000002", "0000000000000002");
    }

    @Test
    void slpEnWithS3OrS4GoesToTheSleepListenerAndWakeSetsWakSts() {
        AtomicInteger powerOffs = new AtomicInteger();
        List<Integer> sleeps = new ArrayList<>();
        AcpiPm pm = new AcpiPm(new RecordingLine(), powerOffs::incrementAndGet, () -> 0);
        pm.write(CNT, 2, AcpiPm.SLP_TYP_S3 << AcpiPm.SLP_TYP_SHIFT | AcpiPm.SLP_EN);
        assertThat(sleeps).as("no listener: ignored as before").isEmpty();
        pm.onSleep(sleeps::add);
        pm.write(CNT, 2, AcpiPm.SLP_TYP_S3 << AcpiPm.SLP_TYP_SHIFT);      // type first: nothing yet
        assertThat(sleeps).isEmpty();
        pm.write(CNT, 2, AcpiPm.SLP_TYP_S3 << AcpiPm.SLP_TYP_SHIFT | AcpiPm.SLP_EN);
        pm.write(CNT + 1, 1, (AcpiPm.SLP_TYP_S4 << 2) | 0x20);            // byte write of the high half
        pm.write(CNT, 2, 3 << AcpiPm.SLP_TYP_SHIFT | AcpiPm.SLP_EN);       // not offered: ignored
        assertThat(sleeps).containsExactly(AcpiPm.SLP_TYP_S3, AcpiPm.SLP_TYP_S4);
        assertThat(powerOffs).hasValue(0);

        assertThat(pm.read(STS, 2) & AcpiPm.WAK_STS).isZero();
        pm.wake(false);
        assertThat(pm.read(STS, 2) & (AcpiPm.WAK_STS | AcpiPm.RTC_STS)).isEqualTo(AcpiPm.WAK_STS);
        pm.write(STS, 2, AcpiPm.WAK_STS);                                  // write 1 to clear
        assertThat(pm.read(STS, 2) & AcpiPm.WAK_STS).isZero();
        pm.wake(true);
        assertThat(pm.read(STS, 2) & (AcpiPm.WAK_STS | AcpiPm.RTC_STS)).isEqualTo(AcpiPm.WAK_STS | AcpiPm.RTC_STS);
        assertThat(pm.state().status() & AcpiPm.WAK_STS).isNotZero();
    }
}
