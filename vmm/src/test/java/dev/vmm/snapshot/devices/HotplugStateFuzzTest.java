package dev.vmm.snapshot.devices;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vmm.chipset.acpi.AcpiCpuHotplug;
import dev.vmm.chipset.acpi.Gpe0Block;
import dev.vmm.chipset.acpi.Piix4PciHotplug;
import dev.vmm.chipset.bus.Bus;
import dev.vmm.cpuhotplug.CpuHotplug;
import dev.vmm.cpuhotplug.RecordingVcpuFactory;
import dev.vmm.devices.DeviceRegistry;
import dev.vmm.hotplug.AcpiPciSlots;
import dev.vmm.smp.SmpTopology;

import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;

/**
 * Jazzer target for the sections issue 15 added to snapshots and migration streams, as a hostile
 * source (or a corrupted snapshot file) can write them: the input is a sequence of sections, each
 * a kind byte ({@code devices}, {@code cpus}, {@code acpi-cpuhp}, {@code acpi-pcihp}), a length
 * byte and that many payload bytes, fed to the production loaders ({@link DeviceManifest#read} and
 * {@link DeviceManifest#difference} against a real list, {@link HotplugState.Loader} into a real
 * {@link CpuHotplug} on a recording vCPU factory and a real PIIX4 block). Every input must load or
 * fail with an IOException (the one-line refusal); afterwards the blocks must answer guest reads
 * and the present CPUs must be exactly the vCPUs the factory made. The framing (names, lengths,
 * checksums) is {@code SnapshotReaderFuzzTest}'s. Seeds: real sections, under
 * {@code src/test/resources/dev/vmm/snapshot/devices/HotplugStateFuzzTestInputs/sections}.
 */
class HotplugStateFuzzTest {
    static final String[] KINDS = {DeviceManifest.SECTION, HotplugState.CPUS, HotplugState.CPU_HOTPLUG, HotplugState.PCI_HOTPLUG};
    private static final SmpTopology TOPOLOGY = SmpTopology.parse("1,maxcpus=4", "pc");
    private static final DeviceManifest HERE = new DeviceManifest(List.of(
            new DeviceManifest.Entry("pci.0", 0, 0, "i440FX", "", -1, "", -1),
            new DeviceManifest.Entry("pci.0", 5, 0, "virtio-blk", "vd1", 1, "", 0),
            new DeviceManifest.Entry("pci.0", 6, 0, "virtio-net", "", 2, "52:54:00:12:34:56", 1)));

    @FuzzTest(maxDuration = "60s")
    void sections(byte[] input) {
        RecordingVcpuFactory vcpus = new RecordingVcpuFactory();
        Gpe0Block gpe = new Gpe0Block(Gpe0Block.PIIX4_LENGTH, level -> { });
        CpuHotplug cpus = CpuHotplug.install(new Bus("pio"), AcpiCpuHotplug.PIIX_BASE, gpe, TOPOLOGY, CpuHotplug.typeName("qemu64"), vcpus);
        AcpiPciSlots slots = new AcpiPciSlots(gpe);
        slots.block().fixedSlot(0);
        slots.block().coldPlugged(5);
        DeviceRegistry registry = new DeviceRegistry(null, List.of());
        registry.addPart(slots);
        HotplugState.Loader loader = new HotplugState.Loader(new HotplugState.Parts(TOPOLOGY, cpus, registry));
        int at = 0;
        while (at + 2 <= input.length) {
            String kind = KINDS[(input[at] & 0xff) % KINDS.length];
            int len = Math.min(input[at + 1] & 0xff, input.length - at - 2);
            byte[] payload = Arrays.copyOfRange(input, at + 2, at + 2 + len);
            at += 2 + len;
            DataInputStream in = new DataInputStream(new ByteArrayInputStream(payload));
            try {
                if (kind.equals(DeviceManifest.SECTION)) {
                    DeviceManifest saved = DeviceManifest.read(in);
                    if (saved.difference(HERE) == null) saved.virtioTargets(HERE);
                    HERE.difference(saved);
                } else if (!loader.read(kind, in)) {
                    throw new IllegalStateException("loader did not take " + kind);
                }
            } catch (IOException refused) {
                // StateFormatException or EOF: the refusal a user sees
            }
        }
        // Afterwards: the guest's reads work, and present hot-plugged CPUs are the vCPUs made.
        for (int cpu = 0; cpu < 4; cpu++) {
            cpus.block().write(AcpiCpuHotplug.SELECTOR_OFFSET, 4, cpu);
            cpus.block().read(AcpiCpuHotplug.FLAGS_OFFSET, 1);
            cpus.block().write(AcpiCpuHotplug.COMMAND_OFFSET, 1, AcpiCpuHotplug.CMD_NEXT_EVENT);
        }
        for (int off = 0; off < Piix4PciHotplug.SIZE; off += 4) slots.block().read(off, 4);
        long made = vcpus.log.stream().filter(l -> l.startsWith("plug ")).count();
        if (made != cpus.hotPlugged().size()) throw new IllegalStateException(made + " vCPUs made, " + cpus.hotPlugged() + " present");
        if (!cpus.isPresent(0)) throw new IllegalStateException("the boot CPU is gone");
    }
}
