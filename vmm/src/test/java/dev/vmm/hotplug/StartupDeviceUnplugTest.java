package dev.vmm.hotplug;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.chipset.acpi.Piix4PciHotplug;
import dev.vmm.chipset.q35.PcieRootPort;
import dev.vmm.config.ConfigException;
import dev.vmm.config.DeviceSpec;
import dev.vmm.config.DiskSpec;
import dev.vmm.config.pci.PlacedSpec;
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
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Issue 15: a start-up device given {@code id=} ({@code --disk ...,id=vd1}) is QEMU's {@code
 * -device ...,id=vd1}: {@code query-pci} shows the id, {@code device_add} cannot take it again, and
 * {@code device_del} unplugs it where a hot-plugged one could be (pc bus 0: PCID + B0EJ; q35 root
 * port: attention button + slot power off), its image closed with it so the slot and the image can
 * be used again; elsewhere (q35 {@code pcie.0}) device_del is refused with QEMU's reason. Real
 * recipes on scratch buses ({@link HotplugRig}); the pc sequence is compared with QEMU in
 * {@code PcHotplugQemuOracleTest.startupDeviceWithIdIsUnpluggedAsByQemu}.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class StartupDeviceUnplugTest {
    @TempDir
    Path dir;

    private static DeviceSpec disk(String text) {
        return PlacedSpec.parse("--disk", text, DiskSpec::parse);
    }

    private Path image(String name) throws Exception {
        byte[] b = new byte[1 << 20];
        for (int i = 0; i < b.length; i++) b[i] = (byte) (i * 5 + name.length());
        return Files.write(dir.resolve(name), b);
    }

    private static void ok(JsonNode reply) {
        assertThat(reply.has("return")).as("%s", reply).isTrue();
    }

    @Test
    void pcStartupDiskWithIdIsUnpluggedAndItsSlotAndImageServeAgain() throws Exception {
        Path img = image("a.raw");
        try (HotplugRig rig = new HotplugRig("pc", dir, List.of(disk("path=" + img + ",addr=5,id=vd1")))) {
            assertThat(rig.qmp.execute("query-pci", null).toString()).contains("\"qdev_id\":\"vd1\"");
            VirtioBlkGuest guest = new VirtioBlkGuest(rig, 0, 5);
            guest.start();
            assertThat(Arrays.copyOf(guest.readSector0(Duration.ofSeconds(20)), 512)).isEqualTo(Arrays.copyOf(Files.readAllBytes(img), 512));
            assertThat(rig.qmp.execute("device_add", "{\"driver\": \"virtio-net-pci\", \"id\": \"vd1\", \"netdev\": \"x\"}")
                    .get("error").get("desc").asText()).isEqualTo("Duplicate device ID 'vd1'");

            ok(rig.qmp.execute("device_del", "{\"id\": \"vd1\"}"));
            assertThat(rig.pio.read(Piix4PciHotplug.BASE + Piix4PciHotplug.PCID, 4)).isEqualTo(1L << 5);
            assertThat(rig.qmp.events).as("nothing deleted before the guest ejects").isEmpty();
            rig.pio.write(Piix4PciHotplug.BASE + Piix4PciHotplug.B0EJ, 4, 1L << 5);
            assertThat(rig.qmp.awaitEvent("DEVICE_DELETED").get("data").get("path").asText()).isEqualTo("/machine/peripheral/vd1/virtio-backend");
            assertThat(rig.qmp.awaitEvent("DEVICE_DELETED").get("data").get("device").asText()).isEqualTo("vd1");
            assertThat(rig.cfgRead(0, 5, 0, 0, 4)).isEqualTo(0xFFFF_FFFFL);
            assertThat(rig.qmp.execute("query-pci", null).toString()).doesNotContain("vd1");
            assertThat(rig.qmp.execute("device_del", "{\"id\": \"vd1\"}").get("error").get("class").asText()).isEqualTo("DeviceNotFound");

            // The same image, by blockdev-add (it locks: the start-up disk's backend is closed), at the same slot and id.
            ok(rig.qmp.execute("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"n1\", \"file\": {\"driver\": \"file\", \"filename\": \""
                    + img + "\"}}"));
            ok(rig.qmp.execute("device_add", "{\"driver\": \"virtio-blk-pci\", \"id\": \"vd1\", \"drive\": \"n1\", \"addr\": \"5\"}"));
            rig.memory.write(0, new byte[0x100000]);   // a fresh driver: its rings start from zero (the old ones are in RAM)
            VirtioBlkGuest again = new VirtioBlkGuest(rig, 0, 5);
            again.start();
            assertThat(Arrays.copyOf(again.readSector0(Duration.ofSeconds(20)), 512)).isEqualTo(Arrays.copyOf(Files.readAllBytes(img), 512));
        }
    }

    @Test
    void q35StartupDiskInARootPortLeavesWhenTheSlotIsPoweredOff() throws Exception {
        Path img = image("b.raw");
        try (HotplugRig rig = new HotplugRig("q35", dir, List.of(disk("path=" + img + ",bus=rp1,addr=0,id=vd1"),
                disk("path=" + image("c.raw") + ",id=root0")), "rp1")) {
            int port = 1;   // the root port at 00:01.0
            PcieRootPort rp = ((dev.vmm.devices.pcie.RootPortAttach.Slot) rig.placement.bus("rp1")).port();
            int cap = rp.expressCapability();
            int ctl = cap + PcieRootPort.EXP_SLTCTL, sta = cap + PcieRootPort.EXP_SLTSTA;
            int secondary = (int) rig.cfgRead(0, port, 0, 0x19, 1);
            assertThat(rig.cfgRead(secondary, 0, 0, 0, 4)).isEqualTo(0x1042_1af4L);
            assertThat(rig.cfgRead(0, port, 0, sta, 2) & PcieRootPort.SLTSTA_PDS).as("present from the start").isNotZero();
            rig.cfgWrite(0, port, 0, ctl, 2, rig.cfgRead(0, port, 0, ctl, 2) | PcieRootPort.SLTCTL_ABPE | PcieRootPort.SLTCTL_PDCE
                    | PcieRootPort.SLTCTL_HPIE);

            ok(rig.qmp.execute("device_del", "{\"id\": \"vd1\"}"));
            assertThat(rig.cfgRead(0, port, 0, sta, 2) & PcieRootPort.SLTSTA_ABP).as("attention button pressed").isNotZero();
            assertThat(rig.qmp.events).isEmpty();
            rig.cfgWrite(0, port, 0, ctl, 2, (rig.cfgRead(0, port, 0, ctl, 2) & ~PcieRootPort.SLTCTL_PIC)
                    | PcieRootPort.SLTCTL_PCC | (long) PcieRootPort.INDICATOR_OFF << 8);
            assertThat(rig.qmp.awaitEvent("DEVICE_DELETED").get("data").get("path").asText()).endsWith("/vd1/virtio-backend");
            assertThat(rig.qmp.awaitEvent("DEVICE_DELETED").get("data").get("device").asText()).isEqualTo("vd1");
            assertThat(rig.cfgRead(secondary, 0, 0, 0, 4)).isEqualTo(0xFFFF_FFFFL);

            // A start-up disk on pcie.0 has an id but no hot-plug slot: refused with QEMU's reason, nothing changes.
            assertThat(rig.qmp.execute("device_del", "{\"id\": \"root0\"}").get("error").get("desc").asText())
                    .isEqualTo("Bus 'pcie.0' does not support hotplugging");
            assertThat(rig.qmp.execute("query-pci", null).toString()).contains("\"qdev_id\":\"root0\"");
        }
    }

    @Test
    void startupIdsAreCheckedAndUnique() throws Exception {
        Path a = image("d.raw"), b = image("e.raw");
        assertThatThrownBy(() -> new HotplugRig("pc", dir, List.of(disk("path=" + a + ",id=vd1"), disk("path=" + b + ",id=vd1"))))
                .isInstanceOf(ConfigException.class).hasMessage("Duplicate ID 'vd1' for device");
        assertThatThrownBy(() -> new HotplugRig("q35", dir, List.of(disk("path=" + a + ",id=rp1")), "rp1"))
                .isInstanceOf(ConfigException.class).hasMessage("Duplicate ID 'rp1' for device");
        for (String bad : List.of("1abc", "a b", "a/b", "é", "a".repeat(65), "")) {
            assertThatThrownBy(() -> DiskSpec.parse("path=" + a + ",id=" + bad)).isInstanceOf(ConfigException.class);
            assertThatThrownBy(() -> dev.vmm.config.NetOptions.parse("tap=t0,id=" + bad)).isInstanceOf(ConfigException.class)
                    .hasMessageContaining("--net");
        }
        assertThat(dev.vmm.config.NetOptions.parse("tap=t0,id=nic-0.a_b").id()).isEqualTo("nic-0.a_b");
    }

    @Test
    void theDryRunShowsTheId() throws Exception {
        dev.vmm.cli.RunCommand r = new dev.vmm.cli.RunCommand();
        new picocli.CommandLine(r).parseArgs("--disk", "path=" + image("f.raw") + ",addr=5,id=vd1", "--disk", "path=" + image("g.raw"));
        String out;
        try (dev.vmm.machine.PreparedMachine p = new dev.vmm.machine.MachineBuilder().prepare(dev.vmm.cli.RunCommandAccess.config(r))) {
            out = dev.vmm.machine.DryRun.describe(p, "host");
        }
        assertThat(out.lines().filter(l -> l.startsWith("  00:05.0 virtio-blk-pci"))).singleElement().asString().endsWith(" id=vd1");
        assertThat(out.lines().filter(l -> l.contains("g.raw"))).singleElement().asString().doesNotContain("id=");
    }
}
