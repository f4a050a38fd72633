package dev.vmm.it;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.RandomAccessFile;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 15, tests 2 and 3: a virtio-blk disk added at run time (QMP blockdev-add + device_add) is
 * found by the guest kit's {@code hotplug} guest, which reads its first sector; device_del → the
 * guest ejects it (B0EJ on pc, slot power-off on q35, as acpiphp/pciehp would) → DEVICE_DELETED →
 * blockdev-del → the image is unlocked (another process can lock it). The scsi cases do the same with a
 * virtio-scsi-pci controller and a scsi-hd disk on it: the guest finds the disk by REPORT LUNS,
 * reads it, sees it go at the disk's device_del (DEVICE_DELETED without guest action), then ejects
 * the controller. Needs /dev/kvm.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class PciHotplugGuestTest {
    private static final long FIRST_WORD = 0x1122334455667788L;

    @BeforeAll
    static void needsKvm() {
        GuestNeeds.kvmAndGuestKit();
    }

    @Test
    void pcAcpiHotplug(@TempDir Path dir) throws Exception {
        run(dir, "pc", "acpi", List.of(), "");
    }

    @Test
    void q35PcieNativeHotplug(@TempDir Path dir) throws Exception {
        run(dir, "q35", "pcie", List.of("--pcie-root-port", "id=rp1,chassis=1,slot=1"), ", \"bus\": \"rp1\"");
    }

    @Test
    void pcAcpiHotplugScsi(@TempDir Path dir) throws Exception {
        runScsi(dir, "pc", "acpi", List.of(), "");
    }

    @Test
    void q35PcieNativeHotplugScsi(@TempDir Path dir) throws Exception {
        runScsi(dir, "q35", "pcie", List.of("--pcie-root-port", "id=rp1,chassis=1,slot=1"), ", \"bus\": \"rp1\"");
    }

    private static void run(Path dir, String machine, String hp, List<String> extra, String busArg) throws Exception {
        run(dir, machine, "hp=" + hp, extra, List.of("{\"driver\": \"virtio-blk-pci\", \"id\": \"vd1\", \"drive\": \"n1\"" + busArg + "}"),
                (c, lines) -> { }, "vd1");
    }

    private static void runScsi(Path dir, String machine, String hp, List<String> extra, String busArg) throws Exception {
        run(dir, machine, "hp=" + hp + " dev=scsi", extra, List.of("{\"driver\": \"virtio-scsi-pci\", \"id\": \"s1\"" + busArg + "}",
                "{\"driver\": \"scsi-hd\", \"id\": \"d1\", \"drive\": \"n1\", \"bus\": \"s1.0\", \"scsi-id\": 0, \"lun\": 4}"),
                (c, lines) -> {
                    // The disk goes first, without the guest; then the node stays claimed by nothing.
                    ok(c.execute("device_del", "{\"id\": \"d1\"}"));
                    awaitDeleted(c, "d1");
                    await(lines, "hotplug: lun gone");
                }, "s1");
    }

    /** What happens between the guest's read and the device_del of {@code device}. */
    private interface BeforeDelete {
        void run(QmpTest.Client c, LinkedBlockingQueue<String> lines) throws Exception;
    }

    private static void run(Path dir, String machine, String cmdline, List<String> extra, List<String> devices, BeforeDelete before,
                            String device) throws Exception {
        Path disk = dir.resolve("hot.raw");
        try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
            f.setLength(1 << 20);
            f.write(java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(FIRST_WORD).array());
        }
        Path sock = dir.resolve("qmp.sock");
        List<String> cmd = new ArrayList<>(List.of(Vmm.binary().toString(), "run", "--machine", machine,
                "--kernel", GuestKit.get().image("hotplug", GuestKit.Format.PVH).toString(),
                "--cmdline", cmdline, "--qmp", "unix:" + sock));
        cmd.addAll(extra);
        Process vmm = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(vmm.getInputStream(), StandardCharsets.UTF_8))) {
                for (String l; (l = r.readLine()) != null; ) lines.add(l);
            } catch (java.io.IOException ignored) {
                // the process ended
            }
        });
        reader.start();
        try {
            await(lines, "hotplug: waiting");
            Waits.waitFor(() -> Files.exists(sock), 30, "the QMP socket");
            try (QmpTest.Client c = new QmpTest.Client(sock)) {
                c.read();
                c.execute("qmp_capabilities");
                ok(c.execute("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"n1\", \"file\": {\"driver\": \"file\","
                        + " \"filename\": \"" + disk + "\"}}"));
                for (String d : devices) ok(c.execute("device_add", d));
                await(lines, "hotplug: found ");
                Matcher m = await(lines, "hotplug: sector0 ([0-9a-f]{16})");
                assertThat(Long.parseUnsignedLong(m.group(1), 16)).isEqualTo(FIRST_WORD);
                assertThat(locked(disk)).as("the node holds the image lock").isTrue();
                before.run(c, lines);
                ok(c.execute("device_del", "{\"id\": \"" + device + "\"}"));
                await(lines, "hotplug: ejected");
                awaitDeleted(c, device);
                assertThat(locked(disk)).as("still locked until blockdev-del").isTrue();
                ok(c.execute("blockdev-del", "{\"node-name\": \"n1\"}"));
                assertThat(locked(disk)).as("unlocked after blockdev-del").isFalse();
            }
            assertThat(vmm.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(vmm.exitValue()).as(String.join("\n", lines)).isZero();
        } finally {
            vmm.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }

    /** Reads QMP until the DEVICE_DELETED of {@code device} (bounded by the class timeout). */
    private static void awaitDeleted(QmpTest.Client c, String device) throws Exception {
        JsonNode deleted;
        do {
            deleted = c.events.stream().filter(e -> e.path("data").path("device").asText().equals(device)).findFirst()
                    .orElse(null);
            if (deleted == null) {
                JsonNode e = c.read();
                if (e.has("event")) c.events.add(e);
            }
        } while (deleted == null);
        assertThat(deleted.path("event").asText()).isEqualTo("DEVICE_DELETED");
    }

    private static void ok(JsonNode reply) {
        assertThat(reply.has("return")).as("%s", reply).isTrue();
    }

    /** Whether another open file description holds a lock on the image (a POSIX lock attempt conflicts with OFD locks). */
    private static boolean locked(Path p) throws Exception {
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            FileLock l = f.getChannel().tryLock();
            if (l == null) return true;
            l.release();
            return false;
        }
    }

    /** The next console line matching {@code regex} (bounded by the class timeout). */
    private static Matcher await(LinkedBlockingQueue<String> lines, String regex) throws Exception {
        Pattern p = Pattern.compile(regex);
        while (true) {
            String l = lines.poll(120, TimeUnit.SECONDS);
            if (l == null) throw new AssertionError("no line matching '" + regex + "' within 120 s");
            if (l.contains("hotplug: FAIL")) throw new AssertionError(l);
            Matcher m = p.matcher(l);
            if (m.find()) return m;
        }
    }
}
