package dev.vmm.cpuhotplug;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vmm.chipset.acpi.AcpiCpuHotplug;
import dev.vmm.chipset.acpi.Gpe0Block;
import dev.vmm.control.QmpServer;
import dev.vmm.smp.SmpTopology;

import java.util.HashMap;
import java.util.Map;

/**
 * Jazzer target for vCPU hot-plug as a QMP client and the guest drive it together: {@code device_add}
 * with any driver name and any props (numbers, strings, junk, out of range), {@code device_del} of
 * any id, interleaved with guest accesses of any offset/width/value to the CPU hot-plug registers.
 * Fails on an exception other than a QMP refusal, a CPU plugged twice without an eject, a vCPU
 * unplugged that was never plugged, or queries that disagree with the register block. Ejects run in
 * place (no thread) so every input replays the same way. Seeds in
 * {@code src/test/resources/dev/vmm/cpuhotplug/CpuHotplugFuzzTestInputs/ops}.
 */
class CpuHotplugFuzzTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] PROPS = {"socket-id", "core-id", "thread-id", "die-id", "apic-id", "id"};

    /** A factory that fails the run on a double plug or an unplug of what is not plugged. */
    private static final class CheckingFactory implements VcpuFactory {
        final Map<Integer, Boolean> live = new HashMap<>();

        @Override
        public Plugged plug(int index) {
            if (Boolean.TRUE.equals(live.put(index, true))) throw new AssertionError("CPU " + index + " plugged twice");
            return new Plugged() {
                @Override
                public int threadId() { return index; }

                @Override
                public void unplug() {
                    if (!Boolean.TRUE.equals(live.put(index, false))) throw new AssertionError("CPU " + index + " unplugged while not plugged");
                }
            };
        }

        @Override
        public int bootThreadId(int index) { return index; }
    }

    @FuzzTest(maxDuration = "60s")
    void ops(FuzzedDataProvider data) {
        int sockets = data.consumeInt(1, 2), cores = data.consumeInt(1, 3), threads = data.consumeInt(1, 2);
        int max = sockets * cores * threads;
        SmpTopology t = SmpTopology.parse(data.consumeInt(1, max) + ",maxcpus=" + max + ",sockets=" + sockets + ",cores=" + cores
                + ",threads=" + threads, "pc");
        CheckingFactory factory = new CheckingFactory();
        CpuHotplug cpus = new CpuHotplug(t, CpuHotplug.typeName("qemu64"), factory, new Gpe0Block(Gpe0Block.PIIX4_LENGTH, level -> { }),
                Runnable::run);
        CpuDeviceDriver driver = new CpuDeviceDriver(cpus);
        AcpiCpuHotplug block = cpus.block();
        for (int step = 0; step < 64 && data.remainingBytes() > 0; step++) {
            switch (data.consumeInt(0, 3)) {
                case 0 -> {
                    ObjectNode args = JSON.createObjectNode();
                    String name = data.consumeBoolean() ? cpus.typeName() : data.consumeBoolean() ? "host-x86_64-cpu" : data.consumeString(12);
                    args.put("driver", name);
                    int n = data.consumeInt(0, 5);
                    for (int i = 0; i < n; i++) {
                        String prop = PROPS[data.consumeInt(0, PROPS.length - 1)];
                        switch (data.consumeInt(0, 3)) {
                            case 0 -> args.put(prop, data.consumeInt(-3, 4));
                            case 1 -> args.put(prop, data.consumeLong());
                            case 2 -> args.put(prop, data.consumeString(6));
                            default -> args.put(prop, data.consumeDouble());
                        }
                    }
                    String id = data.consumeBoolean() ? "c" + data.consumeInt(0, 3) : null;
                    if (id != null && driver.owns(id)) break; // DeviceDrivers refuses a duplicate id before the family
                    try {
                        driver.add(name, id, args);
                    } catch (QmpServer.QmpException refused) {
                        // a refusal in QEMU's words: fine
                    }
                }
                case 1 -> {
                    String id = "c" + data.consumeInt(0, 3);
                    if (driver.owns(id)) {
                        try {
                            driver.delete(id);
                        } catch (QmpServer.QmpException e) {
                            throw new AssertionError("device_del of an owned id refused", e);
                        }
                    }
                }
                case 2 -> block.write(data.consumeInt(0, AcpiCpuHotplug.SIZE - 1), 1 << data.consumeInt(0, 2), data.consumeLong());
                default -> block.read(data.consumeInt(0, AcpiCpuHotplug.SIZE - 1), 1 << data.consumeInt(0, 2));
            }
            int present = 0;
            for (int i = 0; i < t.maxCpus(); i++) {
                if (block.isPresent(i)) present++;
                if (i < t.cpus() && !block.isPresent(i)) throw new AssertionError("boot CPU " + i + " lost");
                if (i >= t.cpus() && block.isPresent(i) != Boolean.TRUE.equals(factory.live.get(i))) {
                    throw new AssertionError("CPU " + i + ": register block and vCPUs disagree");
                }
            }
            if (cpus.cpusFast().size() != present) throw new AssertionError("query-cpus-fast lists " + cpus.cpusFast().size() + " of " + present);
            if (cpus.hotpluggableCpus().size() != t.maxCpus()) throw new AssertionError("query-hotpluggable-cpus size");
        }
    }
}
