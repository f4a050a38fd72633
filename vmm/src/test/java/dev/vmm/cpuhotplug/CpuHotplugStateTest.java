package dev.vmm.cpuhotplug;

import dev.vmm.chipset.acpi.AcpiCpuHotplug;
import dev.vmm.chipset.acpi.Gpe0Block;
import dev.vmm.chipset.bus.Bus;
import dev.vmm.migration.stream.StateFormatException;
import dev.vmm.migration.stream.StateReader;
import dev.vmm.migration.stream.StateWriter;
import dev.vmm.smp.SmpTopology;
import dev.vmm.snapshot.devices.HotplugState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Issue 15: the {@code cpus} and {@code acpi-cpuhp} sections of a snapshot / migration stream. A
 * machine started with {@code --cpus 1,maxcpus=4} gets CPUs 3 and 1 plugged (in that order), the
 * guest acknowledges one insert and reports an {@code _OST}, the host asks for CPU 3's removal;
 * the stream (production writers, real framing) is loaded into a destination started with the
 * same {@code --cpus}: it creates the two vCPUs (recording factory) in the source's order before
 * anything else, has the same register block state and QMP view, and its guest can finish the
 * removal the source asked for. Another start-up topology is refused naming both.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class CpuHotplugStateTest {
    private static final SmpTopology TOPOLOGY = SmpTopology.parse("1,maxcpus=4", "pc");


    private CpuHotplug machine(SmpTopology t, RecordingVcpuFactory factory) {
        Gpe0Block gpe = new Gpe0Block(Gpe0Block.PIIX4_LENGTH, level -> { });
        return CpuHotplug.install(new Bus("pio"), AcpiCpuHotplug.PIIX_BASE, gpe, t, CpuHotplug.typeName("qemu64"), factory);
    }

    private static byte[] save(CpuHotplug cpus, SmpTopology t) throws IOException {
        HotplugState.Parts parts = new HotplugState.Parts(t, cpus, null);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (StateWriter w = new StateWriter(bytes)) {
            HotplugState.writeCpus(parts, w);
            HotplugState.writeControllers(parts, w);
        }
        return bytes.toByteArray();
    }

    private static void load(byte[] stream, CpuHotplug cpus, SmpTopology t) throws IOException {
        HotplugState.Loader loader = new HotplugState.Loader(new HotplugState.Parts(t, cpus, null));
        try (StateReader r = new StateReader(new ByteArrayInputStream(stream))) {
            r.readAll(new StateReader.Handler() {
                @Override
                public int maxVersion(String name) { return HotplugState.sectionVersion(name); }

                @Override
                public void read(String name, int version, long length, DataInputStream in) throws IOException {
                    assertThat(loader.read(name, in)).isTrue();
                }
            });
        }
    }

    /** The guest's side, as the DSDT's methods drive the block. */
    private static void select(AcpiCpuHotplug b, int cpu) { b.write(AcpiCpuHotplug.SELECTOR_OFFSET, 4, cpu); }

    @Test
    void hotPluggedCpusAndTheBlockStateTravel() throws Exception {
        RecordingVcpuFactory sourceVcpus = new RecordingVcpuFactory();
        CpuHotplug source = machine(TOPOLOGY, sourceVcpus);
        source.add(3, "cpu3");
        source.add(1, null);
        AcpiCpuHotplug b = source.block();
        select(b, 3);
        b.write(AcpiCpuHotplug.FLAGS_OFFSET, 1, AcpiCpuHotplug.CTL_CLEAR_INSERT);    // CSCN acknowledged CPU 3's insert
        b.write(AcpiCpuHotplug.COMMAND_OFFSET, 1, AcpiCpuHotplug.CMD_OST_EVENT);
        b.write(AcpiCpuHotplug.DATA_OFFSET, 4, 1);
        b.write(AcpiCpuHotplug.COMMAND_OFFSET, 1, AcpiCpuHotplug.CMD_OST_STATUS);
        b.write(AcpiCpuHotplug.DATA_OFFSET, 4, 0x84);
        source.remove(3);                                                            // device_del cpu3, not ejected yet
        byte[] stream = save(source, TOPOLOGY);

        RecordingVcpuFactory destVcpus = new RecordingVcpuFactory();
        CpuHotplug dest = machine(TOPOLOGY, destVcpus);
        load(stream, dest, TOPOLOGY);
        assertThat(destVcpus.log).as("the vCPUs are created in the source's plug order").containsExactly("plug 3", "plug 1");
        assertThat(dest.hotPlugged()).isEqualTo(source.hotPlugged())
                .containsExactly(new CpuHotplug.PresentCpu(3, "cpu3"), new CpuHotplug.PresentCpu(1, null));
        assertThat(dest.cpusFast()).as("query-cpus-fast (qom paths, order, props)").isEqualTo(source.cpusFast());
        assertThat(dest.hotpluggableCpus()).isEqualTo(source.hotpluggableCpus());
        AcpiCpuHotplug.State s = source.block().state(), d = dest.block().state();
        assertThat(d.flags()).isEqualTo(s.flags());
        assertThat(d.ost()).isEqualTo(s.ost());
        assertThat(d.selector()).isEqualTo(s.selector());
        assertThat(d.command()).isEqualTo(s.command());
        for (int cpu = 0; cpu < 4; cpu++) {
            select(source.block(), cpu);
            select(dest.block(), cpu);
            assertThat(dest.block().read(AcpiCpuHotplug.FLAGS_OFFSET, 1)).as("status of CPU %d", cpu)
                    .isEqualTo(source.block().read(AcpiCpuHotplug.FLAGS_OFFSET, 1));
        }
        // The removal the source asked for: the destination's guest ejects CPU 3 and its vCPU goes.
        select(dest.block(), 3);
        dest.block().write(AcpiCpuHotplug.FLAGS_OFFSET, 1, AcpiCpuHotplug.CTL_EJECT);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!destVcpus.log.contains("unplug 3")) {
            if (System.nanoTime() > deadline) throw new AssertionError("CPU 3 not unplugged after the guest's eject");
            java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
        }
        assertThat(dest.isPresent(3)).isFalse();
    }

    @Test
    void anotherStartupTopologyIsRefusedNamingBoth() throws Exception {
        CpuHotplug source = machine(TOPOLOGY, new RecordingVcpuFactory());
        source.add(2, "cpu2");
        byte[] stream = save(source, TOPOLOGY);

        SmpTopology other = SmpTopology.parse("2,maxcpus=4", "pc");
        RecordingVcpuFactory vcpus = new RecordingVcpuFactory();
        assertThatThrownBy(() -> load(stream, machine(other, vcpus), other)).isInstanceOf(StateFormatException.class)
                .hasMessage("the source was started with --cpus 1,maxcpus=4,sockets=1,cores=4,threads=1, this machine with --cpus "
                        + "2,maxcpus=4,sockets=1,cores=4,threads=1: start it with the source's start-up --cpus (hot-plugged CPUs are created from the state)");
        assertThat(vcpus.log).as("no vCPU made").isEmpty();
        SmpTopology plain = SmpTopology.of(1);
        assertThatThrownBy(() -> load(stream, null, plain)).isInstanceOf(StateFormatException.class)
                .hasMessageContaining("this machine with --cpus 1,maxcpus=1");
    }

    @Test
    void hostileSectionsAreRefusedWithNothingMade() throws Exception {
        CpuHotplug source = machine(TOPOLOGY, new RecordingVcpuFactory());
        source.add(2, "cpu2");
        RecordingVcpuFactory vcpus = new RecordingVcpuFactory();
        CpuHotplug dest = machine(TOPOLOGY, vcpus);
        // The block's state without the cpus section first: its present set cannot be checked.
        byte[] blockOnly = stream(w -> HotplugState.writeControllers(new HotplugState.Parts(TOPOLOGY, source, null), w));
        assertThatThrownBy(() -> load(blockOnly, dest, TOPOLOGY)).hasMessage("acpi-cpuhp state before the cpus section");
        // A boot CPU listed as hot-plugged, an index out of range, a duplicate.
        for (int[] indices : new int[][] {{0}, {4}, {2, 2}}) {
            byte[] bad = stream(w -> w.section(HotplugState.CPUS, 1, cpusSection(TOPOLOGY, indices)));
            assertThatThrownBy(() -> load(bad, dest, TOPOLOGY)).isInstanceOf(StateFormatException.class)
                    .hasMessageStartingWith("cpus: hot-plugged CPU index");
        }
        assertThat(vcpus.log).isEmpty();
        // A present set that is not the vCPUs that exist: the block says CPU 3 is present, no cpus section made it.
        AcpiCpuHotplug lying = new AcpiCpuHotplug(new long[] {0, 1, 2, 3}, 1, i -> { });
        lying.plug(3);
        byte[] mismatch = stream(w -> {
            w.section(HotplugState.CPUS, 1, cpusSection(TOPOLOGY));
            w.section(HotplugState.CPU_HOTPLUG, 1, dev.vmm.snapshot.SectionBytes.of(o -> dev.vmm.migration.stream.RecordCodec.write(o, lying.state())));
        });
        assertThatThrownBy(() -> load(mismatch, dest, TOPOLOGY)).hasMessage("acpi-cpuhp: CPU 3 is absent here but not in the state");
    }

    interface Sections {
        void write(StateWriter w) throws IOException;
    }

    private static byte[] stream(Sections s) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (StateWriter w = new StateWriter(bytes)) {
            s.write(w);
        }
        return bytes.toByteArray();
    }

    private static byte[] cpusSection(SmpTopology t, int... hot) throws IOException {
        return dev.vmm.snapshot.SectionBytes.of(o -> {
            for (int v : new int[] {t.cpus(), t.maxCpus(), t.sockets(), t.dies(), t.cores(), t.threads()}) o.writeInt(v);
            o.writeInt(hot.length);
            for (int i : hot) {
                o.writeInt(i);
                o.writeBoolean(false);
                o.writeUTF("");
            }
        });
    }

    @Test
    void sectionListsOnlyPresentHotPluggedCpus() throws Exception {
        CpuHotplug source = machine(TOPOLOGY, new RecordingVcpuFactory());
        assertThat(source.hotPlugged()).isEmpty();
        source.add(2, "cpu2");
        assertThat(source.hotPlugged()).isEqualTo(List.of(new CpuHotplug.PresentCpu(2, "cpu2")));
    }
}
