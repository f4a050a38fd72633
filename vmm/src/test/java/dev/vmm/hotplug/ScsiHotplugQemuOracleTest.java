package dev.vmm.hotplug;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code device_add virtio-scsi-pci} / {@code scsi-hd} and {@code device_del} answered by QEMU 7.2
 * ({@code pc}, TCG, stopped) at test time and by this VMM's machine ({@link HotplugRig}), the same
 * requests in the same order on both: each side has a controller {@code s1} with disk {@code d1}
 * (node n1) at LUN 0 and a free node n2 over its own copy of an image. Every answer must be equal.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ScsiHotplugQemuOracleTest {
    @TempDir
    Path dir;
    private HotplugRig ours;
    private QemuQmp qemu;

    @BeforeEach
    void start() throws Exception {
        qemu = new QemuQmp(List.of("-machine", "pc", "-accel", "tcg"));
        ours = new HotplugRig("pc", Files.createDirectories(dir.resolve("ours")));
        for (String side : List.of("qemu", "ours")) {
            Path d = Files.createDirectories(dir.resolve(side));
            for (String n : List.of("n1", "n2")) {
                Files.write(d.resolve(n + ".raw"), new byte[1 << 20]);
                String add = "{\"driver\": \"raw\", \"node-name\": \"" + n + "\", \"file\": {\"driver\": \"file\", \"filename\": \""
                        + d.resolve(n + ".raw") + "\"}}";
                assertThat(execute(side, "blockdev-add", add).has("return")).isTrue();
            }
        }
        same("device_add", "{\"driver\": \"virtio-scsi-pci\", \"id\": \"s1\"}", true);
        same("device_add", "{\"driver\": \"scsi-hd\", \"id\": \"d1\", \"drive\": \"n1\", \"bus\": \"s1.0\", \"scsi-id\": 0, \"lun\": 0}", true);
    }

    @AfterEach
    void stop() throws Exception {
        if (ours != null) ours.close();
        if (qemu != null) qemu.close();
    }

    private JsonNode execute(String side, String command, String args) throws Exception {
        return side.equals("qemu") ? qemu.execute(command, args) : ours.qmp.execute(command, args);
    }

    /** The same request to both; the answers must be equal (and a success or a refusal as {@code succeeds}). */
    private void same(String command, String args, boolean succeeds) throws Exception {
        JsonNode q = qemu.execute(command, args);
        JsonNode o = ours.qmp.execute(command, args);
        assertThat(q.has("return")).as("QEMU: %s %s -> %s", command, args, q).isEqualTo(succeeds);
        assertThat(o).as("%s %s", command, args).isEqualTo(q);
    }

    private void refused(String args) throws Exception {
        same("device_add", args, false);
    }

    @Test
    void scsiHdRefusalsAsQemu() throws Exception {
        refused("{\"driver\": \"scsi-hd\", \"id\": \"d2\", \"drive\": \"n2\", \"bus\": \"nobus.0\"}");
        refused("{\"driver\": \"scsi-hd\", \"id\": \"d2\", \"drive\": \"n2\", \"bus\": \"pci.0\"}");
        refused("{\"driver\": \"scsi-hd\", \"id\": \"d2\", \"drive\": \"nope\", \"bus\": \"s1.0\"}");
        refused("{\"driver\": \"scsi-hd\", \"id\": \"d2\", \"bus\": \"s1.0\", \"lun\": 3}");
        refused("{\"driver\": \"scsi-hd\", \"id\": \"d2\", \"drive\": \"n2\", \"bus\": \"s1.0\", \"scsi-id\": 0, \"lun\": 0}");
        refused("{\"driver\": \"scsi-hd\", \"id\": \"d2\", \"drive\": \"n1\", \"bus\": \"s1.0\", \"lun\": 3}");
        refused("{\"driver\": \"scsi-hd\", \"id\": \"d2\", \"drive\": \"n2\", \"bus\": \"s1.0\", \"lun\": 16384}");
        refused("{\"driver\": \"scsi-hd\", \"id\": \"d2\", \"drive\": \"n2\", \"bus\": \"s1.0\", \"scsi-id\": 256}");
        refused("{\"driver\": \"scsi-hd\", \"id\": \"d2\", \"drive\": \"n2\", \"bus\": \"s1.0\", \"channel\": 1}");
        refused("{\"driver\": \"scsi-hd\", \"id\": \"d2\", \"drive\": \"n2\", \"bus\": \"s1.0\", \"scsi-id\": \"x\"}");
        refused("{\"driver\": \"scsi-hd\", \"id\": \"d2\", \"drive\": \"n2\", \"bus\": \"s1.0\", \"lun\": 1.5}");
        refused("{\"driver\": \"scsi-hd\", \"id\": \"d2\", \"drive\": \"n2\", \"bus\": \"s1.0\", \"bogus\": 1}");
        refused("{\"driver\": \"scsi-hd\", \"id\": \"d1\", \"drive\": \"n2\", \"bus\": \"s1.0\"}");
        refused("{\"driver\": \"scsi-hd\", \"id\": \"-bad\", \"drive\": \"n2\", \"bus\": \"s1.0\"}");
        same("device_del", "{\"id\": \"nope\"}", false);
        assertThat(ours.nodes.user("n2")).as("no refusal claimed the node").isNull();
        // A valid disk at LUN 5 (explicit scsi-id 0: this VMM's controller has one target), then both delete it.
        same("device_add", "{\"driver\": \"scsi-hd\", \"id\": \"d2\", \"drive\": \"n2\", \"bus\": \"s1.0\", \"scsi-id\": 0, \"lun\": 5, \"bootindex\": 3}", true);
        refused("{\"driver\": \"scsi-hd\", \"id\": \"d3\", \"drive\": \"n2\", \"bus\": \"s1.0\", \"scsi-id\": 0, \"lun\": 5}");
        same("blockdev-del", "{\"node-name\": \"n2\"}", false);
        same("device_del", "{\"id\": \"d2\"}", true);
        // Synchronous in both: the device is gone before the next command.
        same("device_del", "{\"id\": \"d2\"}", false);
    }

    @Test
    void virtioScsiPciRefusalsAsQemu() throws Exception {
        refused("{\"driver\": \"virtio-scsi-pci\", \"id\": \"s2\", \"num_queues\": 0}");
        refused("{\"driver\": \"virtio-scsi-pci\", \"id\": \"s2\", \"num_queues\": 1023}");
        refused("{\"driver\": \"virtio-scsi-pci\", \"id\": \"s2\", \"num_queues\": \"x\"}");
        refused("{\"driver\": \"virtio-scsi-pci\", \"id\": \"s2\", \"bogus\": 1}");
        // QEMU takes up to 1022 request queues, this VMM 64: its own refusal, nothing plugged.
        assertThat(ours.qmp.execute("device_add", "{\"driver\": \"virtio-scsi-pci\", \"id\": \"s2\", \"num_queues\": 1022}")
                .get("error").get("desc").asText()).contains("at most 64 request queues");
        refused("{\"driver\": \"virtio-scsi-pci\", \"id\": \"s2\", \"bus\": \"nobus\"}");
        refused("{\"driver\": \"virtio-scsi-pci\", \"id\": \"s2\", \"addr\": \"zz\"}");
        refused("{\"driver\": \"virtio-scsi-pci\", \"id\": \"s1\"}");
        // Slot 0 holds the host bridge on both (QEMU names it i440FX, this VMM PciHostBridge).
        String args = "{\"driver\": \"virtio-scsi-pci\", \"id\": \"s2\", \"addr\": \"0\"}";
        String q = qemu.execute("device_add", args).get("error").get("desc").asText();
        String o = ours.qmp.execute("device_add", args).get("error").get("desc").asText();
        assertThat(q).contains("in use by ");
        assertThat(o).startsWith(q.substring(0, q.indexOf("in use by ") + 10)).endsWith(",id=(null)");
        // A second controller is accepted by both; its bus takes a disk.
        same("device_add", "{\"driver\": \"virtio-scsi-pci\", \"id\": \"s2\", \"num_queues\": 2}", true);
        same("device_add", "{\"driver\": \"scsi-hd\", \"id\": \"d2\", \"drive\": \"n2\", \"bus\": \"s2.0\", \"scsi-id\": 0, \"lun\": 1}", true);
        same("device_del", "{\"id\": \"s2\"}", true);
    }
}
