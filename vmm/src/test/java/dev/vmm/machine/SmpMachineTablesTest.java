package dev.vmm.machine;

import dev.vmm.chipset.acpi.AcpiCpuHotplug;
import dev.vmm.chipset.acpi.AcpiTables;
import dev.vmm.chipset.bus.Bus;
import dev.vmm.memory.GuestMemory;
import dev.vmm.smp.SmpTables;
import dev.vmm.smp.SmpTopology;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The topology in each machine's firmware tables (no KVM): with {@code maxcpus} above the boot
 * count the DSDT has the CPU hot-plug objects over the recipe's register block (0xaf00 on pc,
 * 0x0cd8 on q35, as QEMU) and the MADT every possible CPU; with plain {@code --cpus N} the tables
 * are byte for byte those of a builder that never heard of a topology.
 */
class SmpMachineTablesTest {
    private final List<GuestMemory> mapped = new ArrayList<>();

    @AfterEach
    void unmap() {
        mapped.forEach(GuestRam::unmap);
    }

    private AcpiTables tables(String machine, SmpTopology smp) {
        long memory = 256L << 20;
        MachineConfig cfg = new MachineConfig(machine, memory, smp.cpus(), new byte[0], "none", null, "", new MachineConfig.Serial.None(),
                GuestRam.Options.DEFAULT, false, false, MachineConfig.Devices.NONE, MachineConfig.SleepStates.BOTH,
                dev.vmm.firmware.PlatformOptions.DEFAULT, smp);
        MachineRecipe recipe = MachineRecipe.named(machine);
        GuestMemory mem = GuestRam.map(memory, GuestRam.Options.DEFAULT, recipe.lowRamEnd(memory));
        mapped.add(mem);
        MachineRecipe.Chipset c = recipe.install(new Bus("pio"), new Bus("mmio"), gsi -> level -> { }, cfg, mem,
                new ConsoleOutput(OutputStream.nullOutputStream()), exit -> { });
        return recipe.acpiTables(c, cfg);
    }

    private static byte[] table(AcpiTables t, String signature) {
        int off = (int) (t.tableAddresses().get(signature) - t.address());
        int len = ByteBuffer.wrap(t.bytes(), off + 4, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
        return Arrays.copyOfRange(t.bytes(), off, off + len);
    }

    private static boolean contains(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
            return true;
        }
        return false;
    }

    @ParameterizedTest
    @ValueSource(strings = {"pc", "q35"})
    void hotplugObjectsAndPossibleCpus(String machine) {
        AcpiTables t = tables(machine, SmpTopology.parse("1,maxcpus=3", machine));
        byte[] dsdt = table(t, "DSDT"), madt = table(t, "APIC");
        int base = machine.equals("pc") ? AcpiCpuHotplug.PIIX_BASE : AcpiCpuHotplug.Q35_BASE;
        assertThat(MachineRecipe.named(machine).cpuHotplugBase()).isEqualTo(base);
        String text = new String(dsdt, java.nio.charset.StandardCharsets.ISO_8859_1);
        assertThat(text).contains("CPUS", "CSCN", "C002", "_E02");
        // OperationRegion (PRST, SystemIO, base, 12): the region's address as an AML WordConst
        assertThat(contains(dsdt, new byte[] {'P', 'R', 'S', 'T', 1, 0x0b, (byte) base, (byte) (base >> 8)})).as("PRST at 0x%x", base).isTrue();
        List<String> cpus = new ArrayList<>();
        for (int p = 44; p < madt.length; p += madt[p + 1] & 0xff) {
            if (madt[p] == 0) cpus.add((madt[p + 2] & 0xff) + "/" + (madt[p + 3] & 0xff) + "/" + madt[p + 4]);
        }
        assertThat(cpus).containsExactly("0/0/1", "1/1/0", "2/2/0");
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 7})
    void plainCpusLeavesTheTablesAsTheyWere(int n) {
        byte[] before = AcpiTables.builder(n).build(0xe0000).bytes();
        byte[] now = SmpTables.acpi(AcpiTables.builder(n), SmpTopology.parse(String.valueOf(n), "pc"), AcpiCpuHotplug.PIIX_BASE).build(0xe0000).bytes();
        assertThat(now).isEqualTo(before);
    }
}
