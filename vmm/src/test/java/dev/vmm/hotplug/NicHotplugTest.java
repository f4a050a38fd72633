package dev.vmm.hotplug;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.chipset.acpi.Piix4PciHotplug;
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
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * NIC hot-plug on {@code pc} without KVM: netdev_add opens a real tap (skipped without
 * CAP_NET_ADMIN, with the tap's own reason), device_add virtio-net-pci plugs a NIC on it (the MAC
 * in its config space), netdev_del is refused while the NIC uses it, device_del + the guest's
 * eject free it, netdev_del closes the tap. Argument refusals are compared with QEMU 7.2 (a
 * {@code user} netdev there; only requests that open nothing).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class NicHotplugTest {
    @TempDir
    Path dir;
    private HotplugRig rig;
    private final String ifname = "vmmhp" + ProcessHandle.current().pid() % 100000;

    @BeforeEach
    void start() throws Exception {
        rig = new HotplugRig("pc", dir);
    }

    @AfterEach
    void stop() throws Exception {
        if (rig != null) rig.close();
    }

    private void netdevAdd() throws Exception {
        JsonNode r = rig.qmp.execute("netdev_add", "{\"type\": \"tap\", \"id\": \"hn1\", \"ifname\": \"" + ifname + "\", \"vhost\": false}");
        assumeTrue(r.has("return") || !r.toString().contains("CAP_NET_ADMIN"), "no CAP_NET_ADMIN here: " + r);
        assertThat(r.has("return")).as("%s", r).isTrue();
    }

    @Test
    void nicPlugsOnATapAndTheTapIsClosedAfterItLeaves() throws Exception {
        netdevAdd();
        assertThat(Files.exists(Path.of("/sys/class/net", ifname))).as("tap created").isTrue();
        assertThat(rig.qmp.execute("netdev_add", "{\"type\": \"tap\", \"id\": \"hn1\", \"ifname\": \"x" + ifname + "\"}")
                .get("error").get("desc").asText()).isEqualTo("Duplicate ID 'hn1' for netdev");
        JsonNode r = rig.qmp.execute("device_add", "{\"driver\": \"virtio-net-pci\", \"id\": \"nic1\", \"netdev\": \"hn1\","
                + " \"mac\": \"52:54:00:12:34:56\", \"addr\": \"4\"}");
        assertThat(r.has("return")).as("%s", r).isTrue();
        assertThat(rig.pio.read(Piix4PciHotplug.BASE + Piix4PciHotplug.PCIU, 4)).isEqualTo(1L << 4);
        assertThat(rig.cfgRead(0, 4, 0, 0, 4)).as("virtio-net 1af4:1041").isEqualTo(0x1041_1af4L);
        long bar = (rig.cfgRead(0, 4, 0, 0x20, 4) & ~0xFL) | rig.cfgRead(0, 4, 0, 0x24, 4) << 32;
        long mac = 0;
        for (int i = 0; i < 6; i++) mac = mac << 8 | rig.mmio.read(bar + dev.vmm.virtio.pci.VirtioPciLayout.DEVICE_OFFSET + i, 1);
        assertThat(Long.toHexString(mac)).isEqualTo("525400123456");
        assertThat(rig.qmp.execute("netdev_del", "{\"id\": \"hn1\"}").get("error").get("desc").asText()).contains("in use by device 'nic1'");

        assertThat(rig.qmp.execute("device_del", "{\"id\": \"nic1\"}").has("return")).isTrue();
        rig.pio.write(Piix4PciHotplug.BASE + Piix4PciHotplug.B0EJ, 4, 1L << 4);
        rig.qmp.awaitEvent("DEVICE_DELETED");
        assertThat(rig.qmp.awaitEvent("DEVICE_DELETED").get("data").get("device").asText()).isEqualTo("nic1");
        assertThat(rig.kvm.liveMsi()).isZero();
        assertThat(rig.kvm.ioeventfds()).isEmpty();
        assertThat(Files.exists(Path.of("/sys/class/net", ifname))).as("the netdev still holds the tap").isTrue();
        assertThat(rig.qmp.execute("netdev_del", "{\"id\": \"hn1\"}").has("return")).isTrue();
        HotplugRig.await(() -> !Files.exists(Path.of("/sys/class/net", ifname)), "the tap gone after netdev_del");
    }

    @Test
    void refusalsAsQemu() throws Exception {
        netdevAdd();
        try (QemuQmp qemu = new QemuQmp(List.of("-machine", "pc,accel=tcg", "-netdev", "user,id=hn1"))) {
            List<String> requests = List.of(
                    "{\"driver\": \"virtio-net-pci\", \"id\": \"d0\", \"netdev\": \"nope\"}",
                    "{\"driver\": \"virtio-net-pci\", \"id\": \"d0\", \"netdev\": \"hn1\", \"mac\": \"zz\"}",
                    "{\"driver\": \"virtio-net-pci\", \"id\": \"d0\", \"netdev\": \"hn1\", \"mq\": \"maybe\"}",
                    "{\"driver\": \"virtio-net-pci\", \"id\": \"d0\", \"netdev\": \"hn1\", \"bogus\": 1}",
                    "{\"driver\": \"virtio-net-pci\", \"id\": \"d0\", \"netdev\": \"hn1\", \"bus\": \"nobus\"}",
                    "{\"driver\": \"virtio-net-pci\", \"id\": \"d0\", \"netdev\": \"hn1\", \"addr\": \"0\"}");
            for (String args : requests) {
                JsonNode q = qemu.execute("device_add", args);
                assertThat(q.has("error")).as("QEMU refuses %s: %s", args, q).isTrue();
                JsonNode o = rig.qmp.execute("device_add", args);
                if (args.contains("\"addr\": \"0\"")) {   // the host bridge: QEMU names it i440FX, ours PciHostBridge
                    String d = q.get("error").get("desc").asText();
                    assertThat(o.get("error").get("desc").asText()).startsWith(d.substring(0, d.indexOf("in use by ") + 10));
                } else {
                    assertThat(o).as("device_add %s", args).isEqualTo(q);
                }
            }
            String first = "{\"driver\": \"virtio-net-pci\", \"id\": \"d0\", \"netdev\": \"hn1\"}";
            assertThat(qemu.execute("device_add", first).has("return")).isTrue();
            assertThat(rig.qmp.execute("device_add", first).has("return")).isTrue();
            String second = "{\"driver\": \"virtio-net-pci\", \"id\": \"d1\", \"netdev\": \"hn1\"}";
            assertThat(rig.qmp.execute("device_add", second)).isEqualTo(qemu.execute("device_add", second));
        }
        assertThat(rig.kvm.liveMsi()).isEqualTo(1);
    }
}
