package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vmm.chipset.acpi.Gpe0Block;
import dev.vmm.cpuhotplug.CpuHotplug;
import dev.vmm.cpuhotplug.CpuHotplugQmp;
import dev.vmm.cpuhotplug.RecordingVcpuFactory;
import dev.vmm.smp.SmpTopology;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code query-hotpluggable-cpus}, {@code query-cpus-fast} and CPU {@code device_add} against QEMU
 * 7.2 (TCG, stopped, same {@code -smp} and {@code -cpu}) at test time: the same requests to both,
 * answers equal (QEMU's host thread ids aside; ours come from a recording vCPU factory), before and
 * after CPUs are added, refusals with the same class and desc.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class CpuHotplugQemuOracleTest {
    @TempDir
    Path dir;

    private QmpPair pair(String machine, String smp, String model) throws IOException {
        CpuHotplug cpus = new CpuHotplug(SmpTopology.parse(smp, machine), CpuHotplug.typeName(model), new RecordingVcpuFactory(),
                new Gpe0Block(Gpe0Block.PIIX4_LENGTH, level -> { }));
        QmpPair p = new QmpPair(dir, List.of("-machine", machine + ",accel=tcg", "-S", "-m", "128", "-smp", smp, "-cpu", model),
                s -> CpuHotplugQmp.install(s, DeviceDrivers.install(s), cpus));
        p.qemu.negotiated();
        p.ours.negotiated();
        return p;
    }

    /** Both answers of a query, equal once QEMU's real thread ids are taken out of both. */
    private static void sameQuery(QmpPair p, String command) throws IOException {
        JsonNode q = p.qemu.execute(command, null), o = p.ours.execute(command, null);
        assertThat(q.has("return")).as("QEMU answers %s: %s", command, q).isTrue();
        assertThat(withoutThreadIds(o)).as(command).isEqualTo(withoutThreadIds(q));
    }

    private static JsonNode withoutThreadIds(JsonNode r) {
        JsonNode copy = r.deepCopy();
        if (copy.get("return") instanceof ArrayNode a) {
            for (JsonNode e : a) {
                if (e.has("thread-id")) {
                    assertThat(e.get("thread-id").isInt()).isTrue();
                    ((ObjectNode) e).remove("thread-id");
                }
            }
        }
        return copy;
    }

    private static void sameAdd(QmpPair p, String args) throws IOException {
        JsonNode q = p.qemu.execute("device_add", args), o = p.ours.execute("device_add", args);
        assertThat(o).as("device_add %s", args).isEqualTo(q);
    }

    @Test
    void pcOneOfThreeQemu64() throws Exception {
        try (QmpPair p = pair("pc", "1,maxcpus=3", "qemu64")) {
            sameQuery(p, "query-hotpluggable-cpus");
            sameQuery(p, "query-cpus-fast");
            String cpu = "{\"driver\": \"qemu64-x86_64-cpu\", \"id\": \"%s\"%s}";
            sameAdd(p, cpu.formatted("c1", ", \"socket-id\": 0, \"core-id\": 3, \"thread-id\": 0"));   // core out of range
            sameAdd(p, cpu.formatted("c1", ", \"socket-id\": 1, \"core-id\": 0, \"thread-id\": 0"));   // socket out of range
            sameAdd(p, cpu.formatted("c1", ", \"socket-id\": 0, \"core-id\": 0, \"thread-id\": 1"));   // thread out of range
            sameAdd(p, cpu.formatted("c1", ", \"core-id\": 1, \"thread-id\": 0"));                     // socket not set
            sameAdd(p, cpu.formatted("c1", ", \"socket-id\": 0, \"thread-id\": 0"));                   // core not set
            sameAdd(p, cpu.formatted("c1", ", \"socket-id\": 0, \"core-id\": 1"));                     // thread not set
            sameAdd(p, cpu.formatted("c1", ", \"socket-id\": 0, \"core-id\": 0, \"thread-id\": 0"));   // the boot CPU
            sameAdd(p, cpu.formatted("c1", ", \"socket-id\": 0, \"core-id\": 1, \"thread-id\": 0, \"bogus\": 1"));
            sameAdd(p, cpu.formatted("c1", ", \"socket-id\": 0.5, \"core-id\": 1, \"thread-id\": 0"));
            sameAdd(p, "{\"driver\": \"host-x86_64-cpu\", \"id\": \"c1\", \"socket-id\": 0, \"core-id\": 1, \"thread-id\": 0}");
            sameAdd(p, "{\"driver\": \"Haswell-x86_64-cpu\", \"id\": \"c1\", \"socket-id\": 0, \"core-id\": 1, \"thread-id\": 0}");
            sameQuery(p, "query-hotpluggable-cpus");   // nothing changed
            sameAdd(p, cpu.formatted("c2", ", \"socket-id\": 0, \"core-id\": 2, \"thread-id\": 0"));   // added out of order
            sameAdd(p, cpu.formatted("c1", ", \"socket-id\": \"0\", \"core-id\": 1, \"thread-id\": 0")); // a string number, as device_add takes it
            sameAdd(p, cpu.formatted("c3", ", \"socket-id\": 0, \"core-id\": 1, \"thread-id\": 0"));   // maxcpus reached: the slot exists
            sameAdd(p, cpu.formatted("c1", ", \"socket-id\": 0, \"core-id\": 2, \"thread-id\": 0"));   // duplicate id
            sameQuery(p, "query-hotpluggable-cpus");
            sameQuery(p, "query-cpus-fast");
        }
    }

    @Test
    void q35TwoSocketsWithAnAnonymousCpu() throws Exception {
        try (QmpPair p = pair("q35", "2,maxcpus=4,sockets=2", "qemu64")) {
            sameQuery(p, "query-hotpluggable-cpus");
            sameQuery(p, "query-cpus-fast");
            sameAdd(p, "{\"driver\": \"qemu64-x86_64-cpu\", \"socket-id\": 1, \"core-id\": 1, \"thread-id\": 0}");
            sameAdd(p, "{\"driver\": \"qemu64-x86_64-cpu\", \"socket-id\": 2, \"core-id\": 0, \"thread-id\": 0}");
            sameAdd(p, "{\"driver\": \"qemu64-x86_64-cpu\", \"id\": \"x\", \"socket-id\": 1, \"core-id\": 0, \"thread-id\": 0}");
            sameQuery(p, "query-hotpluggable-cpus");
            sameQuery(p, "query-cpus-fast");
        }
    }

    @Test
    void withoutMaxcpusEverySlotIsTaken() throws Exception {
        try (QmpPair p = pair("pc", "2", "Haswell")) {
            sameQuery(p, "query-hotpluggable-cpus");
            sameQuery(p, "query-cpus-fast");
            sameAdd(p, "{\"driver\": \"Haswell-x86_64-cpu\", \"id\": \"c1\", \"socket-id\": 0, \"core-id\": 1, \"thread-id\": 0}");
            sameAdd(p, "{\"driver\": \"Haswell-x86_64-cpu\", \"id\": \"c1\", \"socket-id\": 0, \"core-id\": 2, \"thread-id\": 0}");
            sameAdd(p, "{\"driver\": \"qemu64-x86_64-cpu\", \"id\": \"c1\", \"socket-id\": 0, \"core-id\": 1, \"thread-id\": 0}");
        }
    }
}
