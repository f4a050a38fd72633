package dev.vmm.hotplug;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.chipset.q35.PcieRootPort;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code q35} PCI Express native hot-plug of a virtio-blk disk into a {@code pcie-root-port}
 * without KVM, played as Linux {@code pciehp} does: slot events enabled, device_add → Presence
 * Detect Changed + Data Link Layer State Changed + the port's interrupt, the endpoint behind the
 * port (4 KiB config space, BAR inside the port's window), a read through its queue; device_del →
 * Attention Button Pressed; the OS powers the slot off → DEVICE_DELETED and everything released.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class PcieNativeHotplugTest {
    private static final int PORT_SLOT = 1;     // the root port's device number on pcie.0 (first free)
    @TempDir
    Path dir;
    private HotplugRig rig;
    private Path image;

    @BeforeEach
    void start() throws Exception {
        rig = new HotplugRig("q35", dir, "rp1");
        image = dir.resolve("disk.raw");
        byte[] content = new byte[1 << 20];
        for (int i = 0; i < content.length; i++) content[i] = (byte) (i * 13 + 1);
        Files.write(image, content);
        assertThat(rig.qmp.execute("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"n1\", \"file\": {\"driver\": \"file\","
                + " \"filename\": \"" + image + "\"}}").has("return")).isTrue();
    }

    @AfterEach
    void stop() throws Exception {
        if (rig != null) rig.close();
    }

    private int expCap() {
        for (int at = (int) rig.cfgRead(0, PORT_SLOT, 0, 0x34, 1); at != 0; at = (int) rig.cfgRead(0, PORT_SLOT, 0, at + 1, 1)) {
            if (rig.cfgRead(0, PORT_SLOT, 0, at, 1) == PcieRootPort.PCIE_CAP_ID) return at;
        }
        throw new AssertionError("no PCI Express capability on the root port");
    }

    private long slotStatus() {
        return rig.cfgRead(0, PORT_SLOT, 0, expCap() + PcieRootPort.EXP_SLTSTA, 2);
    }

    @Test
    void diskPlugsIntoTheRootPortAndLeavesWhenTheSlotIsPoweredOff() throws Exception {
        int ctl = expCap() + PcieRootPort.EXP_SLTCTL;
        int secondary = (int) rig.cfgRead(0, PORT_SLOT, 0, 0x19, 1);
        // pciehp: attention button, presence detect, command completed and hot-plug interrupt enabled.
        rig.cfgWrite(0, PORT_SLOT, 0, ctl, 2, rig.cfgRead(0, PORT_SLOT, 0, ctl, 2) | PcieRootPort.SLTCTL_ABPE
                | PcieRootPort.SLTCTL_PDCE | PcieRootPort.SLTCTL_HPIE);
        rig.cfgWrite(0, PORT_SLOT, 0, expCap() + PcieRootPort.EXP_SLTSTA, 2, PcieRootPort.SLTSTA_CC);
        assertThat(slotStatus() & PcieRootPort.SLTSTA_PDS).isZero();

        JsonNode r = rig.qmp.execute("device_add", "{\"driver\": \"virtio-blk-pci\", \"id\": \"vd1\", \"drive\": \"n1\", \"bus\": \"rp1\"}");
        assertThat(r.has("return")).as("%s", r).isTrue();
        long sta = slotStatus();
        assertThat(sta & PcieRootPort.SLTSTA_PDS).as("presence").isNotZero();
        assertThat(sta & PcieRootPort.SLTSTA_PDC).as("presence detect changed").isNotZero();
        assertThat(sta & PcieRootPort.SLTSTA_DLLSC).as("link state changed").isNotZero();
        assertThat(rig.cfgRead(0, PORT_SLOT, 0, 0x06, 2) & 0x08).as("the port's INTx (interrupt status)").isNotZero();

        assertThat(rig.cfgRead(secondary, 0, 0, 0, 4)).isEqualTo(0x1042_1af4L);
        long bar = (rig.cfgRead(secondary, 0, 0, 0x20, 4) & ~0xFL) | rig.cfgRead(secondary, 0, 0, 0x24, 4) << 32;
        long memBase = (rig.cfgRead(0, PORT_SLOT, 0, 0x20, 2) & 0xFFF0L) << 16;
        long memLimit = ((rig.cfgRead(0, PORT_SLOT, 0, 0x22, 2) & 0xFFF0L) << 16) | 0xF_FFFF;
        assertThat(bar).as("BAR inside the port's reserved window").isBetween(memBase, memLimit - 0x3FFF);
        VirtioBlkGuest guest = new VirtioBlkGuest(rig, secondary, 0);
        guest.start();
        byte[] got = guest.readSector0(Duration.ofSeconds(20));
        assertThat(got[512]).isZero();
        assertThat(Arrays.copyOf(got, 512)).isEqualTo(Arrays.copyOf(Files.readAllBytes(image), 512));

        assertThat(rig.qmp.execute("device_del", "{\"id\": \"vd1\"}").has("return")).isTrue();
        assertThat(slotStatus() & PcieRootPort.SLTSTA_ABP).as("attention button pressed").isNotZero();
        assertThat(rig.qmp.events).isEmpty();
        // pciehp powers the slot off with the power indicator off.
        rig.cfgWrite(0, PORT_SLOT, 0, ctl, 2, (rig.cfgRead(0, PORT_SLOT, 0, ctl, 2) & ~PcieRootPort.SLTCTL_PIC)
                | PcieRootPort.SLTCTL_PCC | (long) PcieRootPort.INDICATOR_OFF << 8);
        assertThat(rig.qmp.awaitEvent("DEVICE_DELETED").get("data").get("path").asText()).endsWith("/vd1/virtio-backend");
        assertThat(rig.qmp.awaitEvent("DEVICE_DELETED").get("data").get("device").asText()).isEqualTo("vd1");
        assertThat(slotStatus() & PcieRootPort.SLTSTA_PDS).isZero();
        assertThat(rig.cfgRead(secondary, 0, 0, 0, 4)).isEqualTo(0xFFFF_FFFFL);
        assertThat(rig.kvm.ioeventfds()).isEmpty();
        assertThat(rig.kvm.liveMsi()).isZero();
        assertThat(rig.registry.drives()).isEmpty();
        assertThat(rig.qmp.execute("blockdev-del", "{\"node-name\": \"n1\"}").has("return")).isTrue();
    }

    /**
     * A second device for an occupied port: with {@code addr=0} the same answer as QEMU 7.2's; without
     * {@code addr} QEMU puts it at slot 1 behind the port, which pciehp never sees, so this VMM refuses
     * it the same way (one device per root port).
     */
    @Test
    void oneDevicePerPortAsQemu() throws Exception {
        Path a = Files.write(dir.resolve("qa.raw"), new byte[1 << 20]), b = Files.write(dir.resolve("qb.raw"), new byte[1 << 20]);
        Files.write(dir.resolve("b.raw"), new byte[1 << 20]);
        String node = "{\"driver\": \"raw\", \"node-name\": \"%s\", \"file\": {\"driver\": \"file\", \"filename\": \"%s\"}}";
        try (QemuQmp qemu = new QemuQmp(List.of("-machine", "q35,accel=tcg", "-device", "pcie-root-port,id=rp1,chassis=1,slot=1"))) {
            qemu.execute("blockdev-add", node.formatted("n1", a));
            qemu.execute("blockdev-add", node.formatted("n2", b));
            rig.qmp.execute("blockdev-add", node.formatted("n2", dir.resolve("b.raw")));
            String first = "{\"driver\": \"virtio-blk-pci\", \"id\": \"vd1\", \"drive\": \"n1\", \"bus\": \"rp1\"}";
            assertThat(qemu.execute("device_add", first).has("return")).isTrue();
            assertThat(rig.qmp.execute("device_add", first).has("return")).isTrue();
            String second = "{\"driver\": \"virtio-blk-pci\", \"id\": \"vd2\", \"drive\": \"n2\", \"bus\": \"rp1\", \"addr\": \"0\"}";
            JsonNode q = qemu.execute("device_add", second);
            assertThat(q.has("error")).as("QEMU: %s", q).isTrue();
            assertThat(rig.qmp.execute("device_add", second)).isEqualTo(q);
            JsonNode noAddr = rig.qmp.execute("device_add", "{\"driver\": \"virtio-blk-pci\", \"id\": \"vd2\", \"drive\": \"n2\", \"bus\": \"rp1\"}");
            assertThat(noAddr).isEqualTo(q);
        }
        assertThat(rig.nodes.user("n2")).isNull();
        assertThat(rig.kvm.liveMsi()).isEqualTo(1);
    }

    /** The root bus of q35 takes no hot-plugged device: the same answer as QEMU 7.2's. */
    @Test
    void rootBusRefusalAsQemu() throws Exception {
        Path qemuImage = Files.write(dir.resolve("q.raw"), new byte[1 << 20]);
        try (QemuQmp qemu = new QemuQmp(List.of("-machine", "q35,accel=tcg", "-device", "pcie-root-port,id=rp1,chassis=1,slot=1"))) {
            qemu.execute("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"n1\", \"file\": {\"driver\": \"file\", \"filename\": \""
                    + qemuImage + "\"}}");
            String args = "{\"driver\": \"virtio-blk-pci\", \"id\": \"d0\", \"drive\": \"n1\"}";
            JsonNode q = qemu.execute("device_add", args);
            assertThat(q.has("error")).as("QEMU: %s", q).isTrue();
            assertThat(rig.qmp.execute("device_add", args)).isEqualTo(q);
            assertThat(rig.nodes.user("n1")).isNull();
        }
    }
}
