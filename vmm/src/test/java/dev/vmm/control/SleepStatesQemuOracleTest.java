package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vmm.chipset.acpi.AcpiPm;
import dev.vmm.chipset.testing.QemuQtest;
import dev.vmm.lifecycle.Lifecycle;
import dev.vmm.lifecycle.RunState;
import dev.vmm.power.GuestSleep;
import dev.vmm.power.PowerCommands;
import dev.vmm.power.WakeEntry;
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
 * S3 as QMP sees it, against QEMU 7.2 run at test time: QEMU's PIIX4 PM block driven through qtest
 * ({@code -qtest stdio}; PMBA programmed as firmware would, then SLP_TYP=1|SLP_EN written to
 * PM1a_CNT) and our AcpiPm + GuestSleep + QMP (the vCPU parking is a no-op here: no KVM). After the
 * guest's write both must send SUSPEND and report {@code suspended}; {@code system_wakeup} must
 * answer alike, send WAKEUP and report {@code running}; a second one must fail alike.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SleepStatesQemuOracleTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int S3_SLP_EN = AcpiPm.SLP_TYP_S3 << AcpiPm.SLP_TYP_SHIFT | AcpiPm.SLP_EN;

    @TempDir
    Path dir;

    /** A QMP client that keeps the events it reads. */
    static final class Client implements AutoCloseable {
        final SocketChannel ch;
        final BufferedReader in;
        final OutputStream out;
        final List<String> events = new ArrayList<>();

        Client(Path sock) throws Exception {
            SocketChannel c = null;
            for (int i = 0; i < 200 && c == null; i++) {
                try {
                    c = SocketChannel.open(StandardProtocolFamily.UNIX);
                    c.connect(UnixDomainSocketAddress.of(sock));
                } catch (IOException notYet) {
                    if (c != null) c.close();
                    c = null;
                    Thread.sleep(50);
                }
            }
            if (c == null) throw new IOException("no QMP server at " + sock);
            ch = c;
            in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8));
            out = Channels.newOutputStream(ch);
            in.readLine();
            execute("qmp_capabilities");
        }

        JsonNode execute(String command) throws IOException {
            out.write(("{\"execute\": \"" + command + "\"}\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            while (true) {
                JsonNode n = JSON.readTree(in.readLine());
                if (n.has("event")) events.add(n.get("event").asText());
                else return n;
            }
        }

        /** Waits (bounded) until event {@code name} has been read. */
        void awaitEvent(String name) throws IOException {
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!events.contains(name) && System.nanoTime() - end < 0) execute("query-status");
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }

    @Test
    void suspendAndWakeupLookTheSameAsQemus() throws Exception {
        Path qemuSock = dir.resolve("qemu.sock");
        // A firmware of HLT instructions: after 'cont' QEMU's vCPU (TCG: this QEMU has no qtest
        // accelerator) would otherwise run SeaBIOS, which programs the same PIIX4 PM registers as
        // this test, at a moment that depends on the host's load (seen timing the test out in CI).
        QemuQtest qemu = QemuQtest.start("-machine", "pc", "-bios", QemuQtest.haltingBios(dir).toString(),
                "-qmp", "unix:" + qemuSock + ",server=on,wait=off");

        Lifecycle lifecycle = new Lifecycle();
        AcpiPm[] pm = new AcpiPm[1];
        GuestSleep sleep = new GuestSleep(lifecycle, new GuestSleep.Platform() {
            @Override public void parkVcpus() { }
            @Override public WakeEntry wakeEntry() { return WakeEntry.decode(0x9A000, 0, 2); }
            @Override public void wakeStatus(boolean byRtc) { pm[0].wake(byRtc); }
            @Override public void resumeAt(WakeEntry entry) { }
            @Override public void resetInstead(String why) { throw new AssertionError(why); }
        });
        pm[0] = new AcpiPm(level -> { }, () -> { }, System::nanoTime);
        pm[0].onSleep(type -> {
            try {
                sleep.suspend();
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
        QmpServer server = new QmpServer(dir.resolve("ours.sock"), "test");
        server.register("query-status", a -> MachineCommands.status(lifecycle.state()));
        PowerCommands.install(server, sleep);
        lifecycle.addSink(server::event);
        server.start();

        try (Client q = new Client(qemuSock); Client o = new Client(server.path())) {
            // Both running; the PM block where firmware would put it (PMBA 0x600, enabled).
            q.execute("cont");
            lifecycle.states().transition(RunState.RUNNING);
            qemu.cfgWrite(0, 1, 3, 0x40, 4, 0x601); // PIIX4 PM (00:01.3): PMBA
            qemu.cfgWrite(0, 1, 3, 0x80, 1, 1);     // PMREGMISC: PM I/O space on
            q.events.clear();
            assertThat(o.execute("query-status")).isEqualTo(q.execute("query-status"));

            // The guest enters S3 (QEMU maps the PM block lazily: write until it suspends).
            for (int i = 0; i < 20 && !q.events.contains(GuestSleep.SUSPEND); i++) {
                qemu.out(0x604, 2, S3_SLP_EN);
                q.awaitEvent(GuestSleep.SUSPEND);
            }
            pm[0].write(AcpiPm.CNT_OFFSET, 2, S3_SLP_EN);
            o.awaitEvent(GuestSleep.SUSPEND);
            assertThat(o.events).isEqualTo(q.events).containsExactly("SUSPEND");
            JsonNode status = q.execute("query-status");
            assertThat(status.at("/return/status").asText()).isEqualTo("suspended");
            assertThat(o.execute("query-status")).isEqualTo(status);

            JsonNode wake = q.execute("system_wakeup");
            assertThat(o.execute("system_wakeup")).isEqualTo(wake);
            q.awaitEvent(GuestSleep.WAKEUP);
            o.awaitEvent(GuestSleep.WAKEUP);
            assertThat(o.events).isEqualTo(q.events).containsExactly("SUSPEND", "WAKEUP");
            assertThat(o.execute("query-status")).isEqualTo(q.execute("query-status"));
            assertThat(o.execute("system_wakeup")).isEqualTo(q.execute("system_wakeup"));
            assertThat(pm[0].read(AcpiPm.EVT_OFFSET, 2) & AcpiPm.WAK_STS).as("WAK_STS for the resuming OS").isNotZero();
        } finally {
            server.close();
            qemu.close();
        }
    }
}
