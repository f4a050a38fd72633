package dev.vmm.hotplug;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.chipset.acpi.Piix4PciHotplug;
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
 * Issue 15, libvirt's {@code -incoming defer} flow: the destination starts bare and is given the
 * source's hot-plugged devices over QMP ({@code blockdev-add} + {@code device_add} at the address
 * the device had) before the state arrives; the state then loads into them, the guest's driver
 * continues there, and — because the device was plugged with its qdev id — {@code device_del}
 * unplugs it on the destination (the eject, DEVICE_DELETED, the node free). Real {@code pc} recipe
 * on scratch buses ({@link HotplugRig}); the stream by the production writers ({@link StateTransfer}).
 * The source is closed before the destination opens the image: a node locks its image from
 * {@code blockdev-add} (see docs/hotplug.md, the limit for a live migration on one host).
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class DeferredDestinationHotplugTest {
    @TempDir
    Path dir;

    private static void ok(JsonNode reply) {
        assertThat(reply.has("return")).as("%s", reply).isTrue();
    }

    @Test
    void devicesAddedOverQmpBeforeTheStateLoadTakeItAndCanBeUnplugged() throws Exception {
        byte[] content = new byte[1 << 20];
        for (int i = 0; i < content.length; i++) content[i] = (byte) (i * 13 + 1);
        Path image = Files.write(dir.resolve("disk.raw"), content);
        String blockdev = "{\"driver\": \"raw\", \"node-name\": \"n1\", \"file\": {\"driver\": \"file\", \"filename\": \"" + image + "\"}}";
        String device = "{\"driver\": \"virtio-blk-pci\", \"id\": \"vd1\", \"drive\": \"n1\", \"addr\": \"5\"}";
        byte[] stream;
        VirtioBlkGuest guest;
        byte[] ram = new byte[0x100000];
        try (HotplugRig source = new HotplugRig("pc", dir)) {
            ok(source.qmp.execute("blockdev-add", blockdev));
            ok(source.qmp.execute("device_add", device));
            guest = new VirtioBlkGuest(source, 0, 5);
            guest.start();
            assertThat(Arrays.copyOf(guest.readSector0(Duration.ofSeconds(20)), 512)).isEqualTo(Arrays.copyOf(content, 512));
            source.pio.read(Piix4PciHotplug.BASE + Piix4PciHotplug.PCIU, 4);   // the guest's PCNT read the announcement
            stream = StateTransfer.save(source);
            source.memory.read(0, ram, 0, ram.length);
        }
        try (HotplugRig dest = new HotplugRig("pc", dir)) {
            ok(dest.qmp.execute("blockdev-add", blockdev));
            ok(dest.qmp.execute("device_add", device));
            dest.memory.write(0, ram, 0, ram.length);
            StateTransfer.load(stream, dest);
            assertThat(dest.pio.read(Piix4PciHotplug.BASE + Piix4PciHotplug.PCIU, 4)).as("the source's PCIU state, not the local plug's")
                    .isZero();
            byte[] got = guest.movedTo(dest).readSector0(Duration.ofSeconds(20));
            assertThat(got[512]).as("VIRTIO_BLK_S_OK on the destination").isZero();
            assertThat(Arrays.copyOf(got, 512)).isEqualTo(Arrays.copyOf(content, 512));
            assertThat(dest.qmp.execute("query-pci", null).toString()).contains("\"qdev_id\":\"vd1\"");

            ok(dest.qmp.execute("device_del", "{\"id\": \"vd1\"}"));
            assertThat(dest.pio.read(Piix4PciHotplug.BASE + Piix4PciHotplug.PCID, 4)).isEqualTo(1L << 5);
            dest.pio.write(Piix4PciHotplug.BASE + Piix4PciHotplug.B0EJ, 4, 1L << 5);   // the guest's _EJ0
            JsonNode deleted = dest.qmp.awaitEvent("DEVICE_DELETED");
            while (!deleted.get("data").has("device")) deleted = dest.qmp.awaitEvent("DEVICE_DELETED");
            assertThat(deleted.get("data").get("device").asText()).isEqualTo("vd1");
            ok(dest.qmp.execute("blockdev-del", "{\"node-name\": \"n1\"}"));
            assertThat(dest.cfgRead(0, 5, 0, 0, 4)).as("slot empty").isEqualTo(0xFFFF_FFFFL);
        }
    }
}
