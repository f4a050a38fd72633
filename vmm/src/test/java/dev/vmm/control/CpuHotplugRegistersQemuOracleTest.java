package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.chipset.acpi.AcpiCpuHotplug;
import dev.vmm.chipset.acpi.Gpe0Block;
import dev.vmm.chipset.bus.Bus;
import dev.vmm.cpuhotplug.CpuHotplug;
import dev.vmm.cpuhotplug.CpuHotplugQmp;
import dev.vmm.cpuhotplug.RecordingVcpuFactory;
import dev.vmm.smp.SmpTopology;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The whole register-level hot-plug conversation against QEMU 7.2 at test time: QEMU {@code pc}
 * (TCG, stopped, {@code -smp 1,maxcpus=3}) with its I/O ports driven over qtest, ours on an I/O
 * bus; both get the same QMP commands ({@code device_add}, {@code device_del}) interleaved with the
 * same guest accesses (what Linux's {@code CSCN}, {@code _OST} and {@code _EJ0} do: the GPE0 status
 * byte, selector, "next event" command, status flags, APIC id, acknowledge, OST, eject). Every read
 * and every {@code ACPI_DEVICE_OST} event must be equal. QEMU starts in its legacy CPU hot-plug mode
 * and switches to this interface when the guest writes 0 to the selector, so the script begins so.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class CpuHotplugRegistersQemuOracleTest {
    @TempDir
    Path dir;

    /** One side: reads/writes at an I/O port, QMP commands, and the events that came with the answers. */
    private interface Side {
        long in(int port, int size) throws IOException;

        void out(int port, int size, long value) throws IOException;

        JsonNode qmp(String command, String args) throws IOException;

        List<JsonNode> events();
    }

    /** A QMP client keeping the events it skips over. */
    private static JsonNode execute(QmpPair.Client c, List<JsonNode> events, String command, String args) throws IOException {
        String line = "{\"execute\": \"" + command + "\"" + (args == null ? "" : ", \"arguments\": " + args) + "}\n";
        c.out().write(line.getBytes(StandardCharsets.UTF_8));
        c.out().flush();
        while (true) {
            String reply = c.in().readLine();
            if (reply == null) throw new IOException("QMP peer closed");
            JsonNode r = QmpPair.JSON.readTree(reply);
            if (r.has("event")) events.add(r);
            else return r;
        }
    }

    private static List<String> script(Side s) throws IOException {
        int base = AcpiCpuHotplug.PIIX_BASE, gpe = Gpe0Block.PIIX4_BASE;
        List<String> log = new ArrayList<>();
        s.out(base, 4, 0);                                                   // legacy → modern (QEMU), selector 0
        for (int cpu = 0; cpu < 3; cpu++) {
            s.out(base, 4, cpu);
            log.add("status " + cpu + ": " + s.in(base + 4, 1));
        }
        log.add("add: " + s.qmp("device_add", "{\"driver\": \"qemu64-x86_64-cpu\", \"id\": \"c2\", \"socket-id\": 0, \"core-id\": 2, \"thread-id\": 0}"));
        log.add("gpe0 status: " + s.in(gpe, 1));
        s.out(gpe, 1, 1 << AcpiCpuHotplug.GPE_BIT);                          // the OS acknowledges GPE 2
        log.add("gpe0 status after ack: " + s.in(gpe, 1));
        s.out(base, 4, 0);
        s.out(base + 5, 1, AcpiCpuHotplug.CMD_NEXT_EVENT);
        long cpu = s.in(base + 8, 4);
        log.add("next event: " + cpu);
        s.out(base, 4, cpu);
        log.add("flags: " + s.in(base + 4, 1));
        s.out(base + 5, 1, AcpiCpuHotplug.CMD_ARCH_ID);
        log.add("arch id: " + s.in(base + 8, 4) + " high " + s.in(base, 4));
        s.out(base + 4, 1, AcpiCpuHotplug.CTL_CLEAR_INSERT);
        log.add("flags after ack: " + s.in(base + 4, 1));
        s.out(base + 5, 1, AcpiCpuHotplug.CMD_NEXT_EVENT);
        log.add("next event when none: " + s.in(base + 8, 4));
        log.add("del: " + s.qmp("device_del", "{\"id\": \"c2\"}"));
        log.add("gpe0 status: " + s.in(gpe, 1));
        s.out(base, 4, 0);
        s.out(base + 5, 1, AcpiCpuHotplug.CMD_NEXT_EVENT);
        cpu = s.in(base + 8, 4);
        log.add("next event: " + cpu);
        s.out(base, 4, cpu);
        log.add("flags: " + s.in(base + 4, 1));
        s.out(base + 5, 1, AcpiCpuHotplug.CMD_OST_EVENT);                   // _OST(3 = eject request, 0x84 = in progress)
        s.out(base + 8, 4, 3);
        s.out(base + 5, 1, AcpiCpuHotplug.CMD_OST_STATUS);
        s.out(base + 8, 4, 0x84);
        s.out(base + 4, 1, AcpiCpuHotplug.CTL_EJECT);                         // _EJ0
        log.add("flags after eject: " + s.in(base + 4, 1));
        s.out(base, 4, 7);                                                    // a selector beyond the possible CPUs
        log.add("flags of CPU 7: " + s.in(base + 4, 1));
        log.add("status query: " + s.qmp("query-hotpluggable-cpus", null).get("return").size());
        return log;
    }

    @Test
    void sameRegistersAndEventsAsQemu() throws Exception {
        Bus pio = new Bus("pio");
        Gpe0Block gpe = new Gpe0Block(Gpe0Block.PIIX4_LENGTH, level -> { });
        pio.register(Gpe0Block.PIIX4_BASE, gpe.length(), gpe);
        CpuHotplug cpus = CpuHotplug.install(pio, AcpiCpuHotplug.PIIX_BASE, gpe, SmpTopology.parse("1,maxcpus=3", "pc"),
                CpuHotplug.typeName("qemu64"), new RecordingVcpuFactory());
        Path qtestSocket = dir.resolve("qtest.sock");
        try (QmpPair pair = new QmpPair(dir, List.of("-machine", "pc,accel=tcg", "-S", "-m", "128", "-smp", "1,maxcpus=3", "-cpu", "qemu64",
                "-qtest", "unix:" + qtestSocket + ",server=on,wait=off"), s -> CpuHotplugQmp.install(s, DeviceDrivers.install(s), cpus))) {
            pair.qemu.negotiated();
            pair.ours.negotiated();
            SocketChannel qt = SocketChannel.open(StandardProtocolFamily.UNIX);
            qt.connect(UnixDomainSocketAddress.of(qtestSocket));
            BufferedReader qtIn = new BufferedReader(new InputStreamReader(Channels.newInputStream(qt), StandardCharsets.UTF_8));
            OutputStream qtOut = Channels.newOutputStream(qt);
            List<JsonNode> qemuEvents = new ArrayList<>(), ourEvents = new ArrayList<>();
            Side qemu = new Side() {
                private String qtest(String line) throws IOException {
                    qtOut.write((line + "\n").getBytes(StandardCharsets.UTF_8));
                    qtOut.flush();
                    while (true) {
                        String r = qtIn.readLine();
                        if (r == null) throw new IOException("qtest closed");
                        if (r.startsWith("OK")) return r;
                        if (r.startsWith("FAIL") || r.startsWith("ERR")) throw new IOException("qtest " + line + ": " + r);
                    }
                }

                public long in(int port, int size) throws IOException {
                    String r = qtest((size == 1 ? "inb" : size == 2 ? "inw" : "inl") + " 0x" + Integer.toHexString(port));
                    return Long.decode(r.substring(3).trim());
                }

                public void out(int port, int size, long value) throws IOException {
                    qtest((size == 1 ? "outb" : size == 2 ? "outw" : "outl") + " 0x" + Integer.toHexString(port) + " 0x" + Long.toHexString(value));
                }

                public JsonNode qmp(String command, String args) throws IOException { return execute(pair.qemu, qemuEvents, command, args); }

                public List<JsonNode> events() { return qemuEvents; }
            };
            Side ours = new Side() {
                public long in(int port, int size) { return pio.read(port, size); }

                public void out(int port, int size, long value) { pio.write(port, size, value); }

                public JsonNode qmp(String command, String args) throws IOException { return execute(pair.ours, ourEvents, command, args); }

                public List<JsonNode> events() { return ourEvents; }
            };
            List<String> q = script(qemu), o = script(ours);
            assertThat(o).isEqualTo(q);
            // the events that arrived with later answers (QEMU's come at once; ours too: the OST is synchronous)
            execute(pair.qemu, qemuEvents, "query-status", null);
            List<JsonNode> qemuOst = qemuEvents.stream().filter(e -> e.path("event").asText().equals("ACPI_DEVICE_OST")).map(e -> e.get("data")).toList();
            List<JsonNode> ourOst = ourEvents.stream().filter(e -> e.path("event").asText().equals("ACPI_DEVICE_OST")).map(e -> e.get("data")).toList();
            assertThat(qemuOst).isNotEmpty();
            assertThat(ourOst).isEqualTo(qemuOst);
            qt.close();
        }
    }
}
