package dev.vmm.cpuhotplug;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vmm.chipset.acpi.AcpiCpuHotplug;
import dev.vmm.chipset.acpi.Gpe0Block;
import dev.vmm.chipset.bus.Bus;
import dev.vmm.control.DeviceDrivers;
import dev.vmm.control.QmpServer;
import dev.vmm.smp.SmpTopology;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
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
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The whole hot-plug conversation without KVM: QMP {@code device_add} of a CPU → the SCI rises
 * through GPE0 bit 2 → the guest's {@code CSCN} sequence on the I/O bus finds the insert event and
 * acknowledges it → {@code device_del} → the remove event → the guest's {@code _OST} and
 * {@code _EJ0} writes → {@code ACPI_DEVICE_OST} and {@code DEVICE_DELETED} on QMP, the vCPU
 * unplugged by the (recording) factory, and the same CPU plugged again afterwards.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class CpuHotplugGuestSequenceTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int BASE = AcpiCpuHotplug.PIIX_BASE;

    @TempDir
    Path dir;
    private QmpServer server;
    private BufferedReader in;
    private OutputStream out;
    private final Bus pio = new Bus("pio");
    private final AtomicBoolean sci = new AtomicBoolean();
    private final RecordingVcpuFactory factory = new RecordingVcpuFactory();
    private Gpe0Block gpe;

    @BeforeEach
    void start() throws IOException {
        gpe = new Gpe0Block(Gpe0Block.PIIX4_LENGTH, sci::set);
        pio.register(Gpe0Block.PIIX4_BASE, gpe.length(), gpe);
        CpuHotplug cpus = CpuHotplug.install(pio, BASE, gpe, SmpTopology.parse("1,maxcpus=3", "pc"), CpuHotplug.typeName("qemu64"), factory);
        server = new QmpServer(dir.resolve("qmp.sock"), "test");
        CpuHotplugQmp.install(server, DeviceDrivers.install(server), cpus);
        server.start();
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(server.path()));
        in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8));
        out = Channels.newOutputStream(ch);
        in.readLine(); // greeting
        assertThat(execute("qmp_capabilities", null).has("return")).isTrue();
        gpe.write(2, 1, 1 << AcpiCpuHotplug.GPE_BIT); // the OS enables GPE 2 (enable half of the PIIX4 block)
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private JsonNode execute(String command, String args) throws IOException {
        out.write(("{\"execute\": \"" + command + "\"" + (args == null ? "" : ", \"arguments\": " + args) + "}\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
        while (true) {
            JsonNode r = JSON.readTree(in.readLine());
            if (r.has("return") || r.has("error")) return r;
        }
    }

    private JsonNode nextEvent(String name) throws IOException {
        while (true) {
            String line = in.readLine();
            assertThat(line).as("QMP stream open while waiting for " + name).isNotNull();
            JsonNode r = JSON.readTree(line);
            if (name.equals(r.path("event").asText())) return r;
        }
    }

    /** The guest's CSCN step: selector 0, "next CPU with an event", returns that CPU and its status byte. */
    private int[] nextEventCpu() {
        pio.write(BASE + AcpiCpuHotplug.SELECTOR_OFFSET, 4, 0);
        pio.write(BASE + AcpiCpuHotplug.COMMAND_OFFSET, 1, AcpiCpuHotplug.CMD_NEXT_EVENT);
        int cpu = (int) pio.read(BASE + AcpiCpuHotplug.DATA_OFFSET, 4);
        pio.write(BASE + AcpiCpuHotplug.SELECTOR_OFFSET, 4, cpu);
        return new int[] {cpu, (int) pio.read(BASE + AcpiCpuHotplug.FLAGS_OFFSET, 1)};
    }

    /** The guest's _E02 prologue: GPE 2 pending; clearing it lowers the SCI. */
    private void acknowledgeGpe() {
        assertThat(sci.get()).as("SCI raised").isTrue();
        assertThat(pio.read(Gpe0Block.PIIX4_BASE, 1) & (1 << AcpiCpuHotplug.GPE_BIT)).isNotZero();
        pio.write(Gpe0Block.PIIX4_BASE, 1, 1 << AcpiCpuHotplug.GPE_BIT);
        assertThat(sci.get()).isFalse();
    }

    @Test
    void addEjectAndAddAgain() throws IOException {
        assertThat(sci.get()).isFalse();
        assertThat(execute("device_add", "{\"driver\": \"qemu64-x86_64-cpu\", \"id\": \"cpu2\", \"socket-id\": 0, \"core-id\": 2, \"thread-id\": 0}"))
                .isEqualTo(JSON.readTree("{\"return\": {}}"));
        assertThat(factory.log).containsExactly("plug 2");
        acknowledgeGpe();
        int[] ev = nextEventCpu();
        assertThat(ev[0]).isEqualTo(2);
        assertThat(ev[1]).isEqualTo(AcpiCpuHotplug.STS_ENABLED | AcpiCpuHotplug.STS_INSERT);
        pio.write(BASE + AcpiCpuHotplug.COMMAND_OFFSET, 1, AcpiCpuHotplug.CMD_ARCH_ID);
        assertThat(pio.read(BASE + AcpiCpuHotplug.DATA_OFFSET, 4)).as("APIC id of core 2").isEqualTo(2);
        pio.write(BASE + AcpiCpuHotplug.FLAGS_OFFSET, 1, AcpiCpuHotplug.CTL_CLEAR_INSERT);
        assertThat(pio.read(BASE + AcpiCpuHotplug.FLAGS_OFFSET, 1)).isEqualTo(AcpiCpuHotplug.STS_ENABLED);

        JsonNode fast = execute("query-cpus-fast", null).get("return");
        assertThat(fast).hasSize(2);
        assertThat(fast.get(1).get("thread-id").asInt()).isEqualTo(1002);
        assertThat(fast.get(1).get("qom-path").asText()).isEqualTo("/machine/peripheral/cpu2");

        assertThat(execute("device_del", "{\"id\": \"cpu2\"}").has("return")).isTrue();
        assertThat(factory.log).containsExactly("plug 2");        // nothing happens before the guest ejects
        acknowledgeGpe();
        ev = nextEventCpu();
        assertThat(ev[0]).isEqualTo(2);
        assertThat(ev[1]).isEqualTo(AcpiCpuHotplug.STS_ENABLED | AcpiCpuHotplug.STS_REMOVE);
        // _OST(0x03 eject request, 0x84 "ejection in progress"), then _EJ0
        pio.write(BASE + AcpiCpuHotplug.COMMAND_OFFSET, 1, AcpiCpuHotplug.CMD_OST_EVENT);
        pio.write(BASE + AcpiCpuHotplug.DATA_OFFSET, 4, 3);
        pio.write(BASE + AcpiCpuHotplug.COMMAND_OFFSET, 1, AcpiCpuHotplug.CMD_OST_STATUS);
        pio.write(BASE + AcpiCpuHotplug.DATA_OFFSET, 4, 0x84);
        JsonNode ost = nextEvent("ACPI_DEVICE_OST");
        assertThat(ost.get("data")).isEqualTo(JSON.readTree(
                "{\"info\": {\"device\": \"cpu2\", \"slot\": \"2\", \"slot-type\": \"CPU\", \"source\": 3, \"status\": 132}}"));
        pio.write(BASE + AcpiCpuHotplug.FLAGS_OFFSET, 1, AcpiCpuHotplug.CTL_EJECT);
        JsonNode deleted = nextEvent("DEVICE_DELETED");
        assertThat(deleted.get("data")).isEqualTo(JSON.readTree("{\"device\": \"cpu2\", \"path\": \"/machine/peripheral/cpu2\"}"));
        assertThat(factory.log).containsExactly("plug 2", "unplug 2");
        assertThat(execute("query-cpus-fast", null).get("return")).hasSize(1);
        assertThat(execute("device_del", "{\"id\": \"cpu2\"}").at("/error/class").asText()).isEqualTo("DeviceNotFound");

        // the same CPU again (KvmVcpuFactory revives the parked vCPU here)
        assertThat(execute("device_add", "{\"driver\": \"qemu64-x86_64-cpu\", \"id\": \"cpu2b\", \"socket-id\": 0, \"core-id\": 2, \"thread-id\": 0}")
                .has("return")).isTrue();
        assertThat(factory.log).containsExactly("plug 2", "unplug 2", "plug 2");
        assertThat(nextEventCpu()[1]).isEqualTo(AcpiCpuHotplug.STS_ENABLED | AcpiCpuHotplug.STS_INSERT);
    }

    @Test
    void guestCannotEjectTheBootCpuOrAnUnrequestedOne() throws IOException {
        assertThat(execute("device_add", "{\"driver\": \"qemu64-x86_64-cpu\", \"id\": \"c1\", \"socket-id\": 0, \"core-id\": 1, \"thread-id\": 0}")
                .has("return")).isTrue();
        for (int cpu : new int[] {0, 1}) {
            pio.write(BASE + AcpiCpuHotplug.SELECTOR_OFFSET, 4, cpu);
            pio.write(BASE + AcpiCpuHotplug.FLAGS_OFFSET, 1, AcpiCpuHotplug.CTL_EJECT);
        }
        assertThat(factory.log).containsExactly("plug 1");
        assertThat(execute("query-cpus-fast", null).get("return")).hasSize(2);
    }
}
