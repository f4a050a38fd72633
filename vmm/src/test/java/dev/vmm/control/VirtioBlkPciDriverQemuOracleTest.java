package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.chipset.pci.PciBridge;
import dev.vmm.chipset.pci.PciBus;
import dev.vmm.chipset.pci.PciHostBridge;
import dev.vmm.control.block.BlockNodes;
import dev.vmm.control.block.BlockdevCommands;
import dev.vmm.control.block.VirtioBlkPciDriver;
import dev.vmm.devices.PciPlacement;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code device_add virtio-blk-pci} argument checks against QEMU 7.2 ({@code pc}, TCG, stopped, a
 * {@code pci-bridge} br1 at 03.0) at test time. Ours: a root bus with the host bridge at 00.0 and a
 * bridge br1 at 03.0 known to the placement (and to qdev ids) by that name. Every refusal QEMU also makes is compared
 * (class and desc); the refusals that are this VMM's own (a bus behind a bridge; a bus without
 * hot-plug slots) are checked to leave everything unchanged.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class VirtioBlkPciDriverQemuOracleTest {
    @TempDir
    Path dir;
    private QmpPair pair;
    private final BlockNodes nodes = new BlockNodes();

    @BeforeEach
    void start() throws Exception {
        PciBus root = PciBus.root(QueryPciQemuOracleTest.platform());
        new PciHostBridge(root);
        PciPlacement placement = new PciPlacement(root);
        PciBridge bridge = new PciBridge();
        root.attach(3, 0, bridge);
        placement.addBus("br1", bridge::secondaryBus);
        for (String side : List.of("qemu", "ours")) Files.write(Files.createDirectories(dir.resolve(side)).resolve("a.raw"), new byte[1 << 20]);
        pair = new QmpPair(dir, List.of("-machine", "pc,accel=tcg", "-S", "-m", "256", "-device", "pci-bridge,id=br1,chassis_nr=1,addr=3"), s -> {
            BlockdevCommands.install(s, nodes);
            DeviceDrivers.install(s).register(new VirtioBlkPciDriver(nodes,
                    new dev.vmm.control.pci.HotplugPciDriver.Parts(() -> placement, f -> f.device() == bridge ? "br1" : null, () -> null)));
        });
        pair.qemu.negotiated();
        pair.ours.negotiated();
        String add = "{\"driver\": \"raw\", \"node-name\": \"n1\", \"file\": {\"driver\": \"file\", \"filename\": \"%s\"}}";
        assertThat(pair.qemu.execute("blockdev-add", add.formatted(dir.resolve("qemu/a.raw"))).has("return")).isTrue();
        assertThat(pair.ours.execute("blockdev-add", add.formatted(dir.resolve("ours/a.raw"))).has("return")).isTrue();
    }

    @AfterEach
    void stop() throws Exception {
        if (pair != null) pair.close();
        nodes.closeAll();
    }

    private JsonNode both(String args) throws IOException {
        JsonNode q = pair.qemu.execute("device_add", args);
        JsonNode o = pair.ours.execute("device_add", args);
        assertThat(q.has("error")).as("QEMU refuses %s: %s", args, q).isTrue();
        assertThat(o).as("device_add %s", args).isEqualTo(q);
        return o;
    }

    @Test
    void refusalsAsQemu() throws IOException {
        both("{\"driver\": \"virtio-blk-pci\", \"id\": \"d0\"}");
        both("{\"driver\": \"virtio-blk-pci\", \"id\": \"d0\", \"drive\": \"nope\"}");
        both("{\"driver\": \"virtio-blk-pci\", \"id\": \"d0\", \"drive\": \"n1\", \"bus\": \"nobus\"}");
        both("{\"driver\": \"virtio-blk-pci\", \"id\": \"d0\", \"drive\": \"n1\", \"addr\": \"zz\"}");
        both("{\"driver\": \"virtio-blk-pci\", \"id\": \"d0\", \"drive\": \"n1\", \"bogus\": 0}");
        both("{\"driver\": \"virtio-blk-pci\", \"id\": \"d0\", \"drive\": \"n1\", \"num-queues\": 0}");
        both("{\"driver\": \"virtio-blk-pci\", \"id\": \"d0\", \"drive\": \"n1\", \"addr\": \"0x3\"}");
        assertThat(nodes.user("n1")).isNull();
    }

    /** A slot QEMU and this VMM fill with different chipset functions: the message up to the occupant's name. */
    @Test
    void busySlotAsQemu() throws IOException {
        String args = "{\"driver\": \"virtio-blk-pci\", \"id\": \"d0\", \"drive\": \"n1\", \"addr\": \"0\"}";
        String q = pair.qemu.execute("device_add", args).get("error").get("desc").asText();
        JsonNode o = pair.ours.execute("device_add", args).get("error");
        assertThat(o.get("class").asText()).isEqualTo("GenericError");
        assertThat(q).contains("in use by ");
        assertThat(o.get("desc").asText()).startsWith(q.substring(0, q.indexOf("in use by ") + 10)).endsWith(",id=(null)");
    }

    /** A node another device writes: QEMU's d0 is real, ours is the node's claim. */
    @Test
    void driveInUseAsQemu() throws IOException {
        assertThat(pair.qemu.execute("device_add", "{\"driver\": \"virtio-blk-pci\", \"id\": \"d0\", \"drive\": \"n1\"}").has("return")).isTrue();
        String holder = "block device '/machine/peripheral/d0/virtio-backend'"; // a claim names its holder as QEMU does
        assertThat(nodes.claim("n1", holder)).isTrue();
        both("{\"driver\": \"virtio-blk-pci\", \"id\": \"d1\", \"drive\": \"n1\"}");
        assertThat(nodes.user("n1")).isEqualTo(holder);
    }

    @Test
    void busBehindABridgeIsRefusedWithTheReason() throws IOException {
        JsonNode o = pair.ours.execute("device_add", "{\"driver\": \"virtio-blk-pci\", \"id\": \"d0\", \"drive\": \"n1\", \"bus\": \"br1\"}");
        assertThat(o.get("error").get("class").asText()).isEqualTo("GenericError");
        assertThat(o.get("error").get("desc").asText()).contains("behind a PCI bridge").contains("not hot-pluggable").contains("RHEL 7");
        assertThat(nodes.user("n1")).isNull();
    }

    /** Every check passes on a bus without hot-plug slots (no machine here): refused, the node stays free for another try. */
    @Test
    void validRequestWithoutHotplugSlotsIsRefused() throws IOException {
        JsonNode o = pair.ours.execute("device_add", "{\"driver\": \"virtio-blk-pci\", \"id\": \"d0\", \"drive\": \"n1\", \"bus\": \"pci.0\", \"addr\": \"5\", \"num-queues\": 2}");
        assertThat(o.get("error").get("class").asText()).isEqualTo("GenericError");
        assertThat(o.get("error").get("desc").asText()).isEqualTo("Bus 'pci.0' does not support hotplugging");
        assertThat(nodes.user("n1")).isNull();
        assertThat(pair.ours.execute("device_del", "{\"id\": \"d0\"}").get("error").get("class").asText()).isEqualTo("DeviceNotFound");
        assertThat(pair.ours.execute("blockdev-del", "{\"node-name\": \"n1\"}").has("return")).isTrue();
    }
}
