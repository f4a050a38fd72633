package dev.vmm.hotplug;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.block.BlockDevice;
import dev.vmm.block.BlockException;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import dev.vmm.chipset.acpi.Gpe0Block;
import dev.vmm.chipset.acpi.Piix4PciHotplug;
import dev.vmm.chipset.pci.PciBridge;
import dev.vmm.machine.PciSubsystem;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@code pc} ACPI PCI hot-plug of a virtio-blk disk end to end without KVM: blockdev-add →
 * device_add → what the guest sees (GPE bit 1 and the SCI, PCIU, the new function's config space
 * through 0xCF8/0xCFC, its BAR in the 32-bit window, MSI-X, a virtio-blk read through the queue) →
 * device_del (PCID, GPE) → the guest's B0EJ write → DEVICE_DELETED → KVM wiring gone, image lock free.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class PcPciHotplugTest {
    @TempDir
    Path dir;
    private HotplugRig rig;
    private Path image;
    private final byte[] sector = new byte[512];

    @BeforeEach
    void start() throws Exception {
        rig = new HotplugRig("pc", dir);
        image = dir.resolve("disk.raw");
        byte[] content = new byte[1 << 20];
        for (int i = 0; i < content.length; i++) content[i] = (byte) (i * 7 + 3);
        Files.write(image, content);
        System.arraycopy(content, 0, sector, 0, 512);
    }

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

    private void blockdevAdd() throws Exception {
        assertThat(qmp("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"n1\", \"file\": {\"driver\": \"file\", \"filename\": \""
                + image + "\"}}").has("return")).isTrue();
    }

    private boolean imageLocked() {
        try (BlockDevice d = Images.open(image, Images.Options.readWriteDefaults().withFormat(ImageFormat.RAW))) {
            return false;
        } catch (BlockException e) {
            return true;
        }
    }

    private long gpeStatus() {
        return rig.pio.read(Gpe0Block.PIIX4_BASE, 2);
    }

    @Test
    void diskPlugsIsUsedAndLeavesWhenTheGuestEjectsIt() throws Exception {
        rig.pio.write(Gpe0Block.PIIX4_BASE + 2, 1, 1 << Piix4PciHotplug.GPE_BIT);   // the OS enables GPE 1
        blockdevAdd();
        assertThat(imageLocked()).as("blockdev-add holds the lock").isTrue();

        ok(qmp("device_add", "{\"driver\": \"virtio-blk-pci\", \"id\": \"vd1\", \"drive\": \"n1\"}"));
        int slot = 1;                                    // the first slot after the host bridge
        assertThat(gpeStatus() & 1 << Piix4PciHotplug.GPE_BIT).isNotZero();
        assertThat(rig.sci).as("SCI raised for the hot-plug GPE").isTrue();
        assertThat(rig.pio.read(Piix4PciHotplug.BASE + Piix4PciHotplug.PCIU, 4)).isEqualTo(1L << slot);
        assertThat(rig.pio.read(Piix4PciHotplug.BASE + Piix4PciHotplug.PCIU, 4)).as("announced once").isZero();
        rig.pio.write(Gpe0Block.PIIX4_BASE, 1, 1 << Piix4PciHotplug.GPE_BIT);        // _E01 done: clear the status
        assertThat(rig.sci).isFalse();

        assertThat(rig.cfgRead(0, slot, 0, 0, 4)).as("virtio-blk 1af4:1042").isEqualTo(0x1042_1af4L);
        long bar = (rig.cfgRead(0, slot, 0, 0x20, 4) & ~0xFL) | rig.cfgRead(0, slot, 0, 0x24, 4) << 32;
        assertThat(bar).isBetween(PciSubsystem.MMIO32_BASE, PciSubsystem.MMIO32_BASE + PciSubsystem.MMIO32_SIZE - 0x4000);
        assertThat(rig.cfgRead(0, slot, 0, 0x04, 2) & 0x2).as("memory decoding on").isNotZero();
        assertThat(rig.kvm.ioeventfds()).as("one ioeventfd on the queue's notify register").hasSize(1);
        assertThat(rig.kvm.liveMsi()).isEqualTo(1);
        assertThat(rig.registry.drives()).extracting(d -> d.id()).containsExactly("vd1");
        JsonNode pci = qmp("query-pci", null).get("return").get(0).get("devices");
        assertThat(pci.findValuesAsText("qdev_id")).contains("vd1");

        VirtioBlkGuest guest = new VirtioBlkGuest(rig, 0, slot);
        guest.start();
        byte[] got = guest.readSector0(Duration.ofSeconds(20));
        assertThat(got[512]).as("VIRTIO_BLK_S_OK").isZero();
        assertThat(Arrays.copyOf(got, 512)).isEqualTo(sector);
        assertThat(rig.kvm.routed).as("MSI-X vectors routed when the guest programmed them").isNotEmpty();
        // The used ring is written first, the interrupt at the end of the I/O thread's round.
        HotplugRig.await(() -> rig.kvm.signalled.stream().anyMatch(m -> m.vector() == 1), "the completion interrupt on the queue's vector");

        assertThat(qmp("blockdev-del", "{\"node-name\": \"n1\"}").get("error").get("desc").asText()).isEqualTo("Node n1 is in use");
        ok(qmp("device_del", "{\"id\": \"vd1\"}"));
        assertThat(rig.pio.read(Piix4PciHotplug.BASE + Piix4PciHotplug.PCID, 4)).isEqualTo(1L << slot);
        assertThat(gpeStatus() & 1 << Piix4PciHotplug.GPE_BIT).as("removal announced").isNotZero();
        assertThat(rig.qmp.events).as("nothing deleted before the guest ejects").isEmpty();
        assertThat(imageLocked()).isTrue();

        rig.pio.write(Piix4PciHotplug.BASE + Piix4PciHotplug.B0EJ, 4, 1L << slot);   // the OS ran _EJ0
        assertThat(rig.qmp.awaitEvent("DEVICE_DELETED").get("data").toString()).as("QEMU reports the backend first")
                .isEqualTo("{\"path\":\"/machine/peripheral/vd1/virtio-backend\"}");
        JsonNode deleted = rig.qmp.awaitEvent("DEVICE_DELETED");
        assertThat(deleted.get("data").get("device").asText()).isEqualTo("vd1");
        assertThat(rig.cfgRead(0, slot, 0, 0, 4)).as("slot empty").isEqualTo(0xFFFF_FFFFL);
        assertThat(rig.kvm.ioeventfds()).as("ioeventfds unregistered").isEmpty();
        assertThat(rig.kvm.liveMsi()).as("MSI routes released").isZero();
        assertThat(rig.registry.drives()).isEmpty();
        assertThat(qmp("query-pci", null).get("return").get(0).get("devices").findValuesAsText("qdev_id")).doesNotContain("vd1");
        assertThat(qmp("device_del", "{\"id\": \"vd1\"}").get("error").get("class").asText()).isEqualTo("DeviceNotFound");

        assertThat(imageLocked()).as("the node still holds the image").isTrue();
        ok(qmp("blockdev-del", "{\"node-name\": \"n1\"}"));
        assertThat(imageLocked()).as("blockdev-del released the lock").isFalse();
    }

    @Test
    void slotIsReusedAfterAnEject() throws Exception {
        blockdevAdd();
        ok(qmp("device_add", "{\"driver\": \"virtio-blk-pci\", \"id\": \"vd1\", \"drive\": \"n1\", \"addr\": \"0x5\"}"));
        assertThat(rig.cfgRead(0, 5, 0, 0, 4)).isEqualTo(0x1042_1af4L);
        ok(qmp("device_del", "{\"id\": \"vd1\"}"));
        rig.pio.write(Piix4PciHotplug.BASE + Piix4PciHotplug.B0EJ, 4, 1L << 5);
        rig.qmp.awaitEvent("DEVICE_DELETED");
        ok(qmp("device_add", "{\"driver\": \"virtio-blk-pci\", \"id\": \"vd2\", \"drive\": \"n1\", \"addr\": \"0x5\"}"));
        assertThat(rig.pio.read(Piix4PciHotplug.BASE + Piix4PciHotplug.PCIU, 4)).isEqualTo(1L << 5);
        assertThat(rig.kvm.liveMsi()).isEqualTo(1);
    }

    @Test
    void refusalsChangeNothing() throws Exception {
        PciBridge bridge = new PciBridge();
        rig.chipset.pci().root().attach(7, 0, bridge);
        rig.placement.addBus("br1", bridge::secondaryBus);
        blockdevAdd();
        JsonNode behind = qmp("device_add", "{\"driver\": \"virtio-blk-pci\", \"id\": \"vd1\", \"drive\": \"n1\", \"bus\": \"br1\"}");
        assertThat(behind.get("error").get("desc").asText()).contains("behind a PCI bridge");
        assertThat(qmp("device_add", "{\"driver\": \"virtio-blk-pci\", \"id\": \"vd1\", \"drive\": \"n1\", \"addr\": \"0x7\"}")
                .get("error").get("desc").asText()).startsWith("PCI: slot 7 function 0 not available for virtio-blk-pci");
        assertThat(rig.nodes.user("n1")).isNull();
        assertThat(rig.kvm.liveMsi()).isZero();
        assertThat(rig.kvm.ioeventfds()).isEmpty();
        assertThat(rig.pio.read(Piix4PciHotplug.BASE + Piix4PciHotplug.PCIU, 4)).isZero();
        ok(qmp("device_add", "{\"driver\": \"virtio-blk-pci\", \"id\": \"vd1\", \"drive\": \"n1\"}"));
        JsonNode second = qmp("device_add", "{\"driver\": \"virtio-blk-pci\", \"id\": \"vd2\", \"drive\": \"n1\"}");
        assertThat(second.get("error").get("desc").asText()).startsWith("Permission conflict on node 'n1'");
        assertThat(rig.kvm.liveMsi()).isEqualTo(1);
    }

    /** Issue 15: snapshots and migration carry hot-plugged devices (HotplugStateTest); while plugged they are saved too. */
    @Test
    void aMachineWithHotPluggedDevicesCanBeSavedWithThem() throws Exception {
        blockdevAdd();
        ok(qmp("device_add", "{\"driver\": \"virtio-blk-pci\", \"id\": \"vd1\", \"drive\": \"n1\"}"));
        assertThat(rig.registry.unsaveable()).isEmpty();
        assertThat(rig.registry.transports()).as("the transports a save captures").hasSize(1);
        ok(qmp("device_del", "{\"id\": \"vd1\"}"));
        rig.pio.write(Piix4PciHotplug.BASE + Piix4PciHotplug.B0EJ, 4, 1L << 1);
        rig.qmp.awaitEvent("DEVICE_DELETED");
        assertThat(rig.registry.transports()).isEmpty();
    }

    @Test
    void hostBridgeSlotIsFixedAndEverySlotElseHasAnSxx() {
        assertThat(rig.pio.read(Piix4PciHotplug.BASE + Piix4PciHotplug.PCRM, 4)).isEqualTo(0xFFFF_FFFEL);
        assertThatThrownBy(() -> ((AcpiPciSlots) rig.recipe.pciSlots()).block().plug(0)).isInstanceOf(IllegalStateException.class);
    }

    /** The real pc machine's DSDT has the hot-plug objects: iasl disassembles it cleanly, S01..S1F, no S00. */
    @Test
    void dsdtHasTheSlotObjects() throws Exception {
        Path iasl = Path.of("/usr/bin/iasl");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(iasl), "iasl not installed (Debian package acpica-tools)");
        dev.vmm.chipset.acpi.AcpiTables t = rig.recipe.acpiTables(rig.chipset, rig.cfg);
        byte[] image = t.bytes();
        int off = (int) (t.tableAddresses().get("DSDT") - t.address());
        int len = java.nio.ByteBuffer.wrap(image, off + 4, 4).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt();
        Files.write(dir.resolve("dsdt.dat"), Arrays.copyOfRange(image, off, off + len));
        Process p = new ProcessBuilder(iasl.toString(), "-d", "dsdt.dat").directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        String dsl = Files.readString(dir.resolve("dsdt.dsl")).replaceAll("(?s)/\\*.*?\\*/", "").replaceAll("//[^\n]*", "").replaceAll("\\s+", " ");
        assertThat(dsl).doesNotContainIgnoringCase("error").doesNotContainIgnoringCase("warning")
                .contains("OperationRegion (PCST, SystemIO, 0xAE00, 0x18)")
                .contains("Device (S01)").contains("Device (S1F)").doesNotContain("Device (S00)")
                .contains("Method (_E01");
        assertThat(dsl).containsPattern("Device \\(S05\\) \\{ Name \\(_ADR, 0x00050000\\) Name \\(_SUN, 0x05\\) Method \\(_EJ0");
    }
}
