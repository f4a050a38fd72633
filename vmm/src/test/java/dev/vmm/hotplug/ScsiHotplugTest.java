package dev.vmm.hotplug;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.block.BlockDevice;
import dev.vmm.block.BlockException;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import dev.vmm.chipset.acpi.Gpe0Block;
import dev.vmm.chipset.acpi.Piix4PciHotplug;
import dev.vmm.virtio.scsi.VirtioScsi;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * virtio-scsi hot-plug end to end without KVM, through the real machine recipe ({@link HotplugRig}):
 * QMP device_add virtio-scsi-pci → the ACPI slot → a guest driver ({@link VirtioScsiGuest}) that
 * negotiates HOTPLUG; blockdev-add + device_add scsi-hd → the RESCAN event, REPORT LUNS, reads and
 * writes of the LUN; device_del scsi-hd → REMOVED, DEVICE_DELETED without guest action, the node
 * free; device_del of the controller with a disk on it → the guest's eject → the disk's and the
 * controller's DEVICE_DELETED. Plus a disk on the start-up controller, q35, and odd sequences.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class ScsiHotplugTest {
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final byte[] INQUIRY = {0x12, 0, 0, 0, 36, 0};
    @TempDir
    Path dir;
    private HotplugRig rig;

    @AfterEach
    void stop() throws Exception {
        if (rig != null) rig.close();
    }

    private JsonNode qmp(String command, String args) throws Exception {
        return rig.qmp.execute(command, args);
    }

    private static void ok(JsonNode reply) {
        assertThat(reply.has("return")).as("%s", reply).isTrue();
    }

    private static String error(JsonNode reply) {
        assertThat(reply.has("error")).as("%s", reply).isTrue();
        return reply.get("error").get("class").asText() + ": " + reply.get("error").get("desc").asText();
    }

    /** An image with a recognisable pattern (byte i = i*7+3), added as node {@code name}. */
    private Path node(String name) throws Exception {
        Path image = dir.resolve(name + ".raw");
        byte[] content = new byte[1 << 20];
        for (int i = 0; i < content.length; i++) content[i] = (byte) (i * 7 + 3);
        Files.write(image, content);
        ok(qmp("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"" + name + "\", \"file\": {\"driver\": \"file\", \"filename\": \""
                + image + "\"}}"));
        return image;
    }

    /** A DEVICE_DELETED event's data as "DEVICE PATH" ("-" without a device; member order means nothing). */
    private static String deleted(JsonNode event) {
        JsonNode d = event.get("data");
        return (d.has("device") ? d.get("device").asText() : "-") + " " + d.get("path").asText();
    }

    private static boolean locked(Path image) {
        try (BlockDevice d = Images.open(image, Images.Options.readWriteDefaults().withFormat(ImageFormat.RAW))) {
            return false;
        } catch (BlockException e) {
            return true;
        }
    }

    @Test
    void controllerAndDiskOnPcEndToEnd() throws Exception {
        rig = new HotplugRig("pc", dir);
        rig.pio.write(Gpe0Block.PIIX4_BASE + 2, 1, 1 << Piix4PciHotplug.GPE_BIT);
        ok(qmp("device_add", "{\"driver\": \"virtio-scsi-pci\", \"id\": \"s1\", \"num_queues\": 1}"));
        int slot = 1;
        assertThat(rig.pio.read(Piix4PciHotplug.BASE + Piix4PciHotplug.PCIU, 4)).isEqualTo(1L << slot);
        assertThat(rig.sci).isTrue();
        assertThat(rig.cfgRead(0, slot, 0, 0, 4)).as("virtio-scsi 1af4:1048").isEqualTo(0x1048_1af4L);
        assertThat(qmp("query-pci", null).get("return").get(0).get("devices").findValuesAsText("qdev_id")).contains("s1");

        VirtioScsiGuest guest = new VirtioScsiGuest(rig, 0, slot, 0x100000);
        long features = guest.start(true);
        assertThat(features & VirtioScsi.VIRTIO_SCSI_F_HOTPLUG).as("HOTPLUG offered").isNotZero();
        guest.postEventBuffers(4);
        assertThat(guest.reportLuns(WAIT)).as("no disk yet").isEmpty();

        Path image = node("n1");
        ok(qmp("device_add", "{\"driver\": \"scsi-hd\", \"id\": \"d1\", \"drive\": \"n1\", \"bus\": \"s1.0\", \"scsi-id\": 0, \"lun\": 2}"));
        int[] ev = guest.nextEvent(WAIT);
        assertThat(ev).as("TRANSPORT_RESET, target 0, LUN 2, RESCAN").containsExactly(VirtioScsi.T_TRANSPORT_RESET, 0, 2, VirtioScsi.EVT_RESET_RESCAN);
        assertThat(guest.reportLuns(WAIT)).containsExactly(2);
        assertThat(rig.registry.drives()).extracting(d -> d.id()).containsExactly("d1");

        VirtioScsiGuest.Answer read = guest.command(2, VirtioScsiGuest.rw10(0x28, 0, 1), null, 512, WAIT);
        assertThat(read.status()).isZero();
        assertThat(read.data()).isEqualTo(Arrays.copyOf(Files.readAllBytes(image), 512));
        byte[] block = new byte[512];
        Arrays.fill(block, (byte) 0xC3);
        assertThat(guest.command(2, VirtioScsiGuest.rw10(0x2A, 3, 1), block, 0, WAIT).status()).isZero();
        assertThat(Arrays.copyOfRange(Files.readAllBytes(image), 3 * 512, 4 * 512)).as("the write reached the image").isEqualTo(block);

        assertThat(error(qmp("blockdev-del", "{\"node-name\": \"n1\"}"))).isEqualTo("GenericError: Node n1 is in use");
        ok(qmp("device_del", "{\"id\": \"d1\"}"));
        assertThat(deleted(rig.qmp.awaitEvent("DEVICE_DELETED")))
                .as("no guest action needed (QEMU's scsi-hd unplug is synchronous)").isEqualTo("d1 /machine/peripheral/d1");
        assertThat(guest.nextEvent(WAIT)).containsExactly(VirtioScsi.T_TRANSPORT_RESET, 0, 2, VirtioScsi.EVT_RESET_REMOVED);
        assertThat(guest.command(2, INQUIRY, null, 36, WAIT).data()[0] & 0xFF).as("LUN 2 is absent").isEqualTo(0x7F);
        assertThat(rig.registry.drives()).isEmpty();
        assertThat(error(qmp("device_del", "{\"id\": \"d1\"}"))).isEqualTo("DeviceNotFound: Device 'd1' not found");
        assertThat(locked(image)).isTrue();
        ok(qmp("blockdev-del", "{\"node-name\": \"n1\"}"));
        assertThat(locked(image)).as("the image is free after blockdev-del").isFalse();

        // A controller deleted with a disk on it: the guest ejects it, the disk goes with it (reported first).
        Path second = node("n2");
        ok(qmp("device_add", "{\"driver\": \"scsi-hd\", \"id\": \"d2\", \"drive\": \"n2\", \"bus\": \"s1.0\"}"));
        assertThat(guest.nextEvent(WAIT)).as("the first free LUN").containsExactly(VirtioScsi.T_TRANSPORT_RESET, 0, 0, VirtioScsi.EVT_RESET_RESCAN);
        int eventsBefore = rig.qmp.events.size();
        ok(qmp("device_del", "{\"id\": \"s1\"}"));
        assertThat(rig.pio.read(Piix4PciHotplug.BASE + Piix4PciHotplug.PCID, 4)).isEqualTo(1L << slot);
        assertThat(rig.qmp.events).as("nothing deleted before the guest ejects").hasSize(eventsBefore);
        rig.pio.write(Piix4PciHotplug.BASE + Piix4PciHotplug.B0EJ, 4, 1L << slot);
        assertThat(deleted(rig.qmp.awaitEvent("DEVICE_DELETED"))).isEqualTo("d2 /machine/peripheral/d2");
        assertThat(deleted(rig.qmp.awaitEvent("DEVICE_DELETED"))).isEqualTo("- /machine/peripheral/s1/virtio-backend");
        assertThat(rig.qmp.awaitEvent("DEVICE_DELETED").get("data").get("device").asText()).isEqualTo("s1");
        assertThat(rig.cfgRead(0, slot, 0, 0, 4)).as("slot empty").isEqualTo(0xFFFF_FFFFL);
        assertThat(rig.kvm.ioeventfds()).isEmpty();
        assertThat(rig.kvm.liveMsi()).isZero();
        assertThat(error(qmp("device_add", "{\"driver\": \"scsi-hd\", \"id\": \"d3\", \"drive\": \"n2\", \"bus\": \"s1.0\"}")))
                .isEqualTo("GenericError: Bus 's1.0' not found");
        ok(qmp("blockdev-del", "{\"node-name\": \"n2\"}"));
        assertThat(locked(second)).isFalse();
    }

    @Test
    void diskOnTheStartUpControllerAndOddSequences() throws Exception {
        rig = new HotplugRig("pc", dir, true);
        int slot = 1; // the start-up controller's
        assertThat(rig.cfgRead(0, slot, 0, 0, 4)).isEqualTo(0x1048_1af4L);
        VirtioScsiGuest guest = new VirtioScsiGuest(rig, 0, slot, 0x100000);
        guest.start(false);                 // a driver without HOTPLUG: no events, the LUN is there all the same
        guest.postEventBuffers(2);
        node("n1");
        node("n2");
        ok(qmp("device_add", "{\"driver\": \"scsi-hd\", \"id\": \"d1\", \"drive\": \"n1\"}"));     // no bus: the first SCSI bus
        assertThat(guest.reportLuns(WAIT)).containsExactly(0);
        assertThat(guest.command(0, INQUIRY, null, 36, WAIT).data()[0]).isZero();
        assertThat(guest.eventPending()).as("no event without HOTPLUG").isFalse();
        assertThat(rig.registry.unsaveable()).as("issue 15: a run-time LUN travels (ScsiLunStateTest)").isEmpty();

        // Refusals leave nothing behind.
        assertThat(error(qmp("device_add", "{\"driver\": \"scsi-hd\", \"id\": \"d2\", \"drive\": \"n2\", \"bus\": \"scsi.0\", \"lun\": 0}")))
                .isEqualTo("GenericError: lun already used by 'd1'");
        assertThat(error(qmp("device_add", "{\"driver\": \"scsi-hd\", \"id\": \"d2\", \"drive\": \"n1\", \"lun\": 1}")))
                .startsWith("GenericError: Permission conflict on node 'n1'");
        assertThat(error(qmp("device_add", "{\"driver\": \"scsi-hd\", \"id\": \"d2\", \"drive\": \"n2\", \"scsi-id\": 1}")))
                .contains("one target (scsi-id 0)");
        assertThat(error(qmp("device_add", "{\"driver\": \"scsi-hd\", \"id\": \"d1\", \"drive\": \"n2\"}")))
                .isEqualTo("GenericError: Duplicate device ID 'd1'");
        assertThat(rig.nodes.user("n2")).isNull();
        assertThat(guest.reportLuns(WAIT)).containsExactly(0);

        // Unknown ids, double deletes.
        assertThat(error(qmp("device_del", "{\"id\": \"nope\"}"))).isEqualTo("DeviceNotFound: Device 'nope' not found");
        ok(qmp("device_del", "{\"id\": \"d1\"}"));
        assertThat(error(qmp("device_del", "{\"id\": \"d1\"}"))).isEqualTo("DeviceNotFound: Device 'd1' not found");
        assertThat(rig.qmp.awaitEvent("DEVICE_DELETED").get("data").get("device").asText()).isEqualTo("d1");
        assertThat(rig.nodes.user("n1")).isNull();
        assertThat(rig.registry.unsaveable()).isEmpty();
        // The same LUN again, for another disk.
        ok(qmp("device_add", "{\"driver\": \"scsi-hd\", \"id\": \"d2\", \"drive\": \"n2\", \"bus\": \"scsi.0\", \"lun\": 0}"));
        assertThat(guest.command(0, VirtioScsiGuest.rw10(0x28, 0, 1), null, 512, WAIT).status()).isZero();
        assertThat(rig.qmp.events).hasSize(1);
    }

    /** device_del right after device_add (before the guest saw the slot), sent twice, a disk added meanwhile: each device reported once. */
    @Test
    void deleteDuringAddAndRepeatedDeletesReportEachDeviceOnce() throws Exception {
        rig = new HotplugRig("pc", dir);
        node("n1");
        ok(qmp("device_add", "{\"driver\": \"virtio-scsi-pci\", \"id\": \"s1\"}"));
        ok(qmp("device_del", "{\"id\": \"s1\"}"));
        ok(qmp("device_del", "{\"id\": \"s1\"}"));                 // asks the guest again
        ok(qmp("device_add", "{\"driver\": \"scsi-hd\", \"id\": \"d1\", \"drive\": \"n1\", \"bus\": \"s1.0\"}"));
        assertThat(rig.pio.read(Piix4PciHotplug.BASE + Piix4PciHotplug.PCIU, 4)).isEqualTo(2L);
        assertThat(rig.pio.read(Piix4PciHotplug.BASE + Piix4PciHotplug.PCID, 4)).isEqualTo(2L);
        assertThat(rig.qmp.events).isEmpty();
        rig.pio.write(Piix4PciHotplug.BASE + Piix4PciHotplug.B0EJ, 4, 2L);
        ok(qmp("query-pci", null));                                    // every event sent during the eject is read by now
        assertThat(rig.qmp.events).extracting(e -> e.get("data").get("path").asText())
                .containsExactly("/machine/peripheral/d1", "/machine/peripheral/s1/virtio-backend", "/machine/peripheral/s1");
        assertThat(error(qmp("device_del", "{\"id\": \"s1\"}"))).isEqualTo("DeviceNotFound: Device 's1' not found");
        ok(qmp("blockdev-del", "{\"node-name\": \"n1\"}"));
    }

    @Test
    void controllerInAQ35RootPort() throws Exception {
        rig = new HotplugRig("q35", dir, "rp1");
        node("n1");
        ok(qmp("device_add", "{\"driver\": \"virtio-scsi-pci\", \"id\": \"s1\", \"bus\": \"rp1\"}"));
        assertThat(error(qmp("device_add", "{\"driver\": \"virtio-scsi-pci\", \"id\": \"s2\", \"bus\": \"rp1\", \"addr\": \"0\"}")))
                .startsWith("GenericError: PCI: slot 0 function 0 not available for virtio-scsi-pci, in use by virtio-scsi-pci,id=s1");
        ok(qmp("device_add", "{\"driver\": \"scsi-hd\", \"id\": \"d1\", \"drive\": \"n1\", \"bus\": \"s1.0\"}"));
        int bus = (int) rig.cfgRead(0, 1, 0, 0x19, 1);     // the root port's secondary bus
        assertThat(rig.cfgRead(bus, 0, 0, 0, 4)).isEqualTo(0x1048_1af4L);
        VirtioScsiGuest guest = new VirtioScsiGuest(rig, bus, 0, 0x100000);
        guest.start(true);
        assertThat(guest.reportLuns(WAIT)).containsExactly(0);
        assertThat(guest.command(0, VirtioScsiGuest.rw10(0x28, 0, 1), null, 512, WAIT).status()).isZero();
    }
}
