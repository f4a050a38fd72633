package dev.vmm.machine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vmm.chipset.acpi.AcpiPm;
import dev.vmm.chipset.acpi.AcpiTables;
import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.q35.Ich9Lpc;
import dev.vmm.chipset.q35.Q35Mch;
import dev.vmm.memory.GuestMemory;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --machine q35} installed on scratch buses (no KVM: interrupt lines are no-ops): its config
 * space as a guest reaches it through 0xCF8/0xCFC and through ECAM, the PM block following PMBASE,
 * its memory layout, and its ACPI tables through ACPICA's {@code iasl -d}.
 */
@Timeout(120)
class Q35MachineTest {
    private final Bus pio = new Bus("pio"), mmio = new Bus("mmio");
    private final List<GuestMemory> mapped = new ArrayList<>();

    @AfterEach
    void unmap() {
        mapped.forEach(GuestRam::unmap);
    }

    private record Installed(Q35Machine recipe, MachineRecipe.Chipset chipset) {}

    private Installed install(long memory) {
        MachineConfig cfg = new MachineConfig("q35", memory, 2, new byte[0], "none", null, "", new MachineConfig.Serial.None(),
                GuestRam.Options.DEFAULT, false, false, MachineConfig.Devices.NONE);
        Q35Machine recipe = (Q35Machine) MachineRecipe.named("q35");
        GuestMemory mem = GuestRam.map(memory, GuestRam.Options.DEFAULT, recipe.lowRamEnd(memory));
        mapped.add(mem);
        MachineRecipe.Chipset c = recipe.install(pio, mmio, gsi -> level -> { }, cfg, mem,
                new ConsoleOutput(OutputStream.nullOutputStream()), exit -> { });
        return new Installed(recipe, c);
    }

    /** A config read as a guest makes it with PCI configuration mechanism #1. */
    private long cf8Read(int dev, int fn, int reg, int size) {
        pio.write(0xCF8, 4, 0x8000_0000L | (dev << 11) | (fn << 8) | (reg & 0xFC));
        return pio.read(0xCFC + (reg & 3), size);
    }

    private void cf8Write(int dev, int fn, int reg, int size, long value) {
        pio.write(0xCF8, 4, 0x8000_0000L | (dev << 11) | (fn << 8) | (reg & 0xFC));
        pio.write(0xCFC + (reg & 3), size, value);
    }

    private static long ecam(int dev, int fn, int reg) {
        return Q35Machine.ECAM_BASE + ((long) dev << 15) + ((long) fn << 12) + reg;
    }

    @Test
    void mchAndLpcAnswerThroughCf8AndThroughEcam() {
        install(256L << 20);
        assertThat(cf8Read(0, 0, 0, 4)).isEqualTo(0x29c0_8086L);
        assertThat(mmio.read(ecam(0, 0, 0), 4)).isEqualTo(0x29c0_8086L);
        assertThat(cf8Read(0x1f, 0, 0, 4)).isEqualTo(0x2918_8086L);
        assertThat(mmio.read(ecam(0x1f, 0, 0), 4)).isEqualTo(0x2918_8086L);
        assertThat(cf8Read(0x1f, 0, 0x0a, 2)).as("LPC class: ISA bridge").isEqualTo(0x0601);

        // PCIEXBAR as firmware leaves it: 0xB0000000, 256 buses (length 00), enabled.
        assertThat(cf8Read(0, 0, Q35Mch.PCIEXBAR, 4)).isEqualTo(0xB000_0001L);
        assertThat(cf8Read(0, 0, Q35Mch.PCIEXBAR + 4, 4)).isZero();
        assertThat(mmio.read(ecam(0, 0, Q35Mch.PCIEXBAR), 4)).isEqualTo(0xB000_0001L);

        // PMBASE 0x600 (bit 0: I/O space) with ACPI_EN, and the PM block decoding there.
        assertThat(cf8Read(0x1f, 0, Ich9Lpc.PMBASE, 4)).isEqualTo(0x601L);
        assertThat(mmio.read(ecam(0x1f, 0, Ich9Lpc.ACPI_CNTL), 1)).isEqualTo(Ich9Lpc.ACPI_EN);
        assertThat(pio.find(0x600 + AcpiPm.CNT_OFFSET)).isNotNull();

        // Empty slots read all ones both ways.
        assertThat(cf8Read(5, 0, 0, 4)).isEqualTo(0xFFFF_FFFFL);
        assertThat(mmio.read(ecam(5, 0, 0), 4)).isEqualTo(0xFFFF_FFFFL);
    }

    @Test
    void pmBlockFollowsPmbaseWrittenThroughEcamAndGoesWithAcpiEn() {
        install(256L << 20);
        mmio.write(ecam(0x1f, 0, Ich9Lpc.PMBASE), 4, 0x701);
        assertThat(cf8Read(0x1f, 0, Ich9Lpc.PMBASE, 4)).isEqualTo(0x701L);
        assertThat(pio.find(0x600)).isNull();
        assertThat(pio.find(0x700 + AcpiPm.TMR_OFFSET)).isNotNull();
        cf8Write(0x1f, 0, Ich9Lpc.ACPI_CNTL, 1, 0);
        assertThat(pio.find(0x700)).as("ACPI_EN off: the block does not decode").isNull();
    }

    @Test
    void ecamMovesWithPcieXbarAndPirqsRouteToGsis16To23() {
        Installed m = install(256L << 20);
        cf8Write(0, 0, Q35Mch.PCIEXBAR, 4, 0xE000_0001L);
        assertThat(mmio.read(0xE000_0000L, 4)).isEqualTo(0x29c0_8086L);
        assertThat(mmio.find(Q35Machine.ECAM_BASE)).isNull();
        var router = m.chipset().pci().router();
        assertThat(router.gsi(0, 1)).isEqualTo(16);
        assertThat(router.gsi(3, 1)).isEqualTo(19);
        assertThat(router.gsi(3, 4)).isEqualTo(22);
        assertThat(router.gsi(0x1f, 4)).isEqualTo(16 + ((0x1f + 3) & 7));
        for (int slot = 0; slot < 32; slot++)
            for (int pin = 1; pin <= 4; pin++) assertThat(router.gsi(slot, pin)).isBetween(16, 23);
    }

    @Test
    void ramBelow4gEndsBelowEcam() {
        Q35Machine q35 = new Q35Machine();
        assertThat(q35.lowRamEnd(1L << 30)).isEqualTo(1L << 30);
        assertThat(q35.lowRamEnd(0xA000_0000L)).isEqualTo(0xA000_0000L);
        assertThat(q35.lowRamEnd(4L << 30)).isEqualTo(2L << 30);
        assertThat(q35.lowRamEnd(4L << 30)).isLessThanOrEqualTo(Q35Machine.ECAM_BASE);
        assertThat(new PcMachine().lowRamEnd(4L << 30)).isEqualTo(3L << 30);
        Installed m = install(4L << 30);
        assertThat(m.chipset().pci().mmio64Base()).isGreaterThanOrEqualTo((1L << 32) + (2L << 30));
        assertThat(PciSubsystem.MMIO32_BASE).as("the 32-bit window does not cover ECAM")
                .isGreaterThanOrEqualTo(Q35Machine.ECAM_BASE + Q35Machine.ECAM_SIZE);
    }

    @Test
    void acpiTablesPassIaslWithPcieHostAndMcfg(@TempDir Path dir) throws Exception {
        Path iasl = Path.of("/usr/bin/iasl");
        assumeTrue(Files.isExecutable(iasl), "iasl not installed (Debian package acpica-tools)");
        Installed m = install(512L << 20);
        AcpiTables t = m.recipe().acpiTables(m.chipset().pci(), 2);
        assertThat(t.tableAddresses()).containsKeys("DSDT", "FACP", "APIC", "MCFG").doesNotContainKey("HPET");
        String dsdt = flat(disassemble(iasl, dir, t, "DSDT"));
        assertThat(dsdt).contains("Device (PCI0) { Name (_HID, EisaId (\"PNP0A08\") )")
                .contains("Method (_OSC, 4")
                .contains("Device (LPC) { Name (_ADR, 0x001F0000)")
                .contains("Memory32Fixed (ReadWrite, 0xB0000000, 0x10000000, )")
                .contains("Package (0x04) { 0x0003FFFF, Zero, Zero, 0x13 }")   // slot 3 INTA: PIRQD, GSI 19
                .doesNotContain("PNP0103");
        String mcfg = disassemble(iasl, dir, t, "MCFG");
        assertThat(mcfg).containsPattern("Base Address : 00000000B0000000")
                .containsPattern("Start Bus Number : 00").containsPattern("End Bus Number : FF");
        String fadt = disassemble(iasl, dir, t, "FACP");
        assertThat(fadt).containsPattern("PM1A Control Block Address : 00000604")
                .containsPattern("PM Timer Block Address : 00000608");
    }

    private static String flat(String dsl) {
        return dsl.replaceAll("(?s)/\\*.*?\\*/", "").replaceAll("//[^\n]*", "").replaceAll("\\s+", " ");
    }

    /** Cuts table {@code sig} out of the image and returns what {@code iasl -d} makes of it (no errors or warnings allowed). */
    private static String disassemble(Path iasl, Path dir, AcpiTables t, String sig) throws Exception {
        byte[] image = t.bytes();
        int off = (int) (t.tableAddresses().get(sig) - t.address());
        int len = ByteBuffer.wrap(image, off + 4, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
        assertThat(new String(image, off, 4, StandardCharsets.US_ASCII)).isEqualTo(sig);
        byte[] table = java.util.Arrays.copyOfRange(image, off, off + len);
        String name = sig.toLowerCase();
        Files.write(dir.resolve(name + ".dat"), table);
        Process p = new ProcessBuilder(iasl.toString(), "-d", name + ".dat").directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        String dsl = Files.readString(dir.resolve(name + ".dsl"));
        assertThat(dsl).as(sig).doesNotContainIgnoringCase("error").doesNotContainIgnoringCase("warning").doesNotContain("**** ");
        return dsl;
    }
}
