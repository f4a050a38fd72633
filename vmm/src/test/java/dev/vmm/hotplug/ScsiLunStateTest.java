package dev.vmm.hotplug;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.config.DeviceSpec;
import dev.vmm.config.scsi.ScsiLayout;
import dev.vmm.migration.stream.StateFormatException;
import dev.vmm.virtio.scsi.VirtioScsi;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 15: a virtio-scsi controller with {@code scsi-hd} disks plugged at run time travels in a
 * snapshot / migration stream. The source (real {@code pc} recipe on scratch buses, {@link HotplugRig})
 * gets the controller and two LUNs by QMP; the destination is started with the options libvirt's
 * {@code -device virtio-scsi-pci,id=s1,addr=5 -device scsi-hd,bus=s1.0,lun=N,id=X} become here
 * ({@code --scsi-controller id=s1,addr=5}, {@code --scsi path=...,controller=s1,lun=N,id=X}, parsed by
 * the production {@link ScsiLayout}); the {@code devices} section's LUN set is compared, a driver on
 * the destination sees the same LUNs and serials and reads the images; other LUN sets are refused
 * naming the controller and LUN. The {@code --scsi} controller with a run-time LUN no longer refuses
 * the save.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ScsiLunStateTest {
    private static final Duration WAIT = Duration.ofSeconds(20);
    @TempDir
    Path dir;

    private Path image(String name, int bytes, int seed) throws Exception {
        Path p = dir.resolve(name);
        byte[] b = new byte[bytes];
        for (int i = 0; i < b.length; i++) b[i] = (byte) (i * seed + 1);
        Files.write(p, b);
        return p;
    }

    private static void ok(JsonNode reply) {
        assertThat(reply.has("return")).as("%s", reply).isTrue();
    }

    private static String error(JsonNode reply) {
        assertThat(reply.has("error")).as("%s", reply).isTrue();
        return reply.get("error").get("desc").asText();
    }

    private static void node(HotplugRig rig, String name, Path file) throws Exception {
        ok(rig.qmp.execute("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"" + name + "\", \"file\": {\"driver\": \"file\", \"filename\": \""
                + file + "\"}}"));
    }

    /** The command line's SCSI options as the production layout makes them into specs. */
    private static List<DeviceSpec> startup(List<String> scsi, List<String> controllers) {
        List<DeviceSpec> specs = new ArrayList<>();
        ScsiLayout.add(specs, scsi, controllers);
        return specs;
    }

    private static String serial(VirtioScsiGuest guest, int lun) {
        VirtioScsiGuest.Answer a = guest.command(lun, new byte[] {0x12, 1, (byte) 0x80, 0, 64, 0}, null, 64, WAIT);
        assertThat(a.status()).isZero();
        return new String(a.data(), 4, a.data()[3] & 0xFF, StandardCharsets.US_ASCII);
    }

    private static byte[] sector0(VirtioScsiGuest guest, int lun) {
        VirtioScsiGuest.Answer a = guest.command(lun, VirtioScsiGuest.rw10(0x28, 0, 1), null, 512, WAIT);
        assertThat(a.status()).as("READ(10) on LUN %d", lun).isZero();
        return a.data();
    }

    @Test
    void hotPluggedControllerWithTwoLunsTravelsToADestinationStartedWithThem() throws Exception {
        Path a = image("a.raw", 1 << 20, 7), b = image("b.raw", 2 << 20, 13);
        byte[] stream;
        String serial1, serial3;
        try (HotplugRig source = new HotplugRig("pc", dir)) {
            node(source, "n1", a);
            node(source, "n2", b);
            ok(source.qmp.execute("device_add", "{\"driver\": \"virtio-scsi-pci\", \"id\": \"s1\", \"addr\": \"5\"}"));
            VirtioScsiGuest guest = new VirtioScsiGuest(source, 0, 5, 0x100000);
            guest.start(true);
            ok(source.qmp.execute("device_add", "{\"driver\": \"scsi-hd\", \"id\": \"d1\", \"drive\": \"n1\", \"bus\": \"s1.0\", \"scsi-id\": 0, \"lun\": 1}"));
            ok(source.qmp.execute("device_add", "{\"driver\": \"scsi-hd\", \"drive\": \"n2\", \"bus\": \"s1.0\", \"lun\": 3}"));
            assertThat(guest.reportLuns(WAIT)).containsExactly(1, 3);
            serial1 = serial(guest, 1);
            serial3 = serial(guest, 3);
            assertThat(serial1).isEqualTo("d1");
            assertThat(source.registry.unsaveable()).as("run-time scsi-hd no longer refuses the save").isEmpty();
            stream = StateTransfer.save(source);
        }
        List<String> controller = List.of("id=s1,addr=5");
        String d1 = "path=" + a + ",controller=s1,scsi-id=0,lun=1,id=d1", d2 = "path=" + b + ",controller=s1,lun=3";
        try (HotplugRig dest = new HotplugRig("pc", dir, startup(List.of(d1, d2), controller))) {
            StateTransfer.load(stream, dest);
            VirtioScsi scsi = (VirtioScsi) dest.registry.transports().getFirst().device();
            assertThat(scsi.target().lunNumbers()).containsExactly(1, 3);
            assertThat(dest.qmp.execute("query-pci", null).toString()).contains("\"qdev_id\":\"s1\"");
            // A driver on the destination (a fresh one: it resets the device) sees the same LUNs, serials and data.
            VirtioScsiGuest guest = new VirtioScsiGuest(dest, 0, 5, 0x200000);
            guest.start(true);
            assertThat(guest.reportLuns(WAIT)).containsExactly(1, 3);
            assertThat(serial(guest, 1)).isEqualTo(serial1);
            assertThat(serial(guest, 3)).isEqualTo(serial3);
            assertThat(sector0(guest, 1)).isEqualTo(Arrays.copyOf(Files.readAllBytes(a), 512));
            assertThat(sector0(guest, 3)).isEqualTo(Arrays.copyOf(Files.readAllBytes(b), 512));
            // The start-up ids are taken for QMP.
            Path c = image("c.raw", 1 << 20, 5);
            node(dest, "n9", c);
            assertThat(error(dest.qmp.execute("device_add", "{\"driver\": \"scsi-hd\", \"id\": \"d1\", \"drive\": \"n9\", \"bus\": \"s1.0\", \"lun\": 7}")))
                    .isEqualTo("Duplicate device ID 'd1'");
            assertThat(error(dest.qmp.execute("device_add", "{\"driver\": \"virtio-scsi-pci\", \"id\": \"s1\"}")))
                    .isEqualTo("Duplicate device ID 's1'");
            assertThat(error(dest.qmp.execute("device_add", "{\"driver\": \"scsi-hd\", \"id\": \"d5\", \"drive\": \"n9\", \"bus\": \"s1.0\", \"lun\": 1}")))
                    .isEqualTo("lun already used by 'd1'");
            // libvirt's detach-disk on the destination: the start-up disk d1 goes, its image is closed.
            assertThat(openFdsOn(a)).as("a.raw open by the start-up LUN").isPositive();
            ok(dest.qmp.execute("device_del", "{\"id\": \"d1\"}"));
            assertThat(dest.qmp.awaitEvent("DEVICE_DELETED").get("data").get("device").asText()).isEqualTo("d1");
            assertThat(guest.reportLuns(WAIT)).containsExactly(3);
            assertThat(openFdsOn(a)).as("a.raw closed after device_del").isZero();
            assertThat(error(dest.qmp.execute("device_del", "{\"id\": \"d1\"}"))).isEqualTo("Device 'd1' not found");
            // LUN 1 again, another image through the block layer: reads reach that image, not the old data path.
            ok(dest.qmp.execute("device_add", "{\"driver\": \"scsi-hd\", \"id\": \"d1\", \"drive\": \"n9\", \"bus\": \"s1.0\", \"lun\": 1}"));
            assertThat(guest.reportLuns(WAIT)).containsExactly(1, 3);
            assertThat(sector0(guest, 1)).isEqualTo(Arrays.copyOf(Files.readAllBytes(c), 512));

            // device_del of the start-up controller (libvirt's -device virtio-scsi-pci,id=s1): nothing goes until the
            // guest ejects it (PIIX4 B0EJ); then its run-time disk, its start-up disk's image, then itself.
            assertThat(openFdsOn(b)).as("b.raw open by start-up LUN 3").isPositive();
            ok(dest.qmp.execute("device_del", "{\"id\": \"s1\"}"));
            assertThat(dest.pio.read(dev.vmm.chipset.acpi.Piix4PciHotplug.BASE + dev.vmm.chipset.acpi.Piix4PciHotplug.PCID, 4))
                    .as("removal asked of slot 5").isEqualTo(1L << 5);
            assertThat(openFdsOn(b)).isPositive();
            assertThat(error(dest.qmp.execute("blockdev-del", "{\"node-name\": \"n9\"}"))).contains("in use");
            dest.pio.write(dev.vmm.chipset.acpi.Piix4PciHotplug.BASE + dev.vmm.chipset.acpi.Piix4PciHotplug.B0EJ, 4, 1L << 5);
            assertThat(dest.qmp.awaitEvent("DEVICE_DELETED").get("data").get("device").asText()).as("the run-time disk first").isEqualTo("d1");
            assertThat(dest.qmp.awaitEvent("DEVICE_DELETED").get("data").get("path").asText()).isEqualTo("/machine/peripheral/s1/virtio-backend");
            assertThat(dest.qmp.awaitEvent("DEVICE_DELETED").get("data").get("device").asText()).isEqualTo("s1");
            assertThat(openFdsOn(b)).as("b.raw closed with its controller").isZero();
            ok(dest.qmp.execute("blockdev-del", "{\"node-name\": \"n9\"}"));
            assertThat(dest.cfgRead(0, 5, 0, 0, 4)).as("slot 5 empty").isEqualTo(0xFFFF_FFFFL);
            assertThat(error(dest.qmp.execute("device_del", "{\"id\": \"s1\"}"))).isEqualTo("Device 's1' not found");
        }

        // Other LUN sets: refused before anything is loaded, naming the controller and the LUN.
        assertThat(refusal(stream, startup(List.of(d1, "path=" + b + ",controller=s1,lun=2"), controller)))
                .contains("virtio-scsi 's1' at pci.0 05.0: missing LUN 3 (4096 blocks of 512 bytes, read-write, serial " + serial3 + ")")
                .contains("virtio-scsi 's1' at pci.0 05.0: extra LUN 2");
        assertThat(refusal(stream, startup(List.of(d1, "path=" + a + ",controller=s1,lun=3"), controller)))
                .contains("virtio-scsi 's1' at pci.0 05.0: LUN 3 is 4096 blocks of 512 bytes, read-write, serial " + serial3
                        + " in the state, 2048 blocks of 512 bytes, read-write, serial " + serial3 + " here");
        assertThat(refusal(stream, startup(List.of("path=" + a + ",controller=s1,lun=1", d2), controller)))
                .contains("virtio-scsi 's1' at pci.0 05.0: LUN 1 'd1' has id 'd1' in the state, none here");
        assertThat(refusal(stream, startup(List.of(d1), controller)))
                .contains("virtio-scsi 's1' at pci.0 05.0: missing LUN 3")
                .contains("--scsi ...,controller=,lun=,id=");
    }

    @Test
    void aRunTimeLunOnTheScsiControllerTravelsToo() throws Exception {
        Path c = image("c.raw", 1 << 20, 3), a = image("a.raw", 1 << 20, 7);
        List<String> cold = List.of("path=" + c);
        byte[] stream;
        try (HotplugRig source = new HotplugRig("pc", dir, startup(cold, List.of()))) {
            node(source, "n1", a);
            ok(source.qmp.execute("device_add", "{\"driver\": \"scsi-hd\", \"id\": \"d3\", \"drive\": \"n1\", \"bus\": \"scsi.0\", \"lun\": 5}"));
            assertThat(source.registry.unsaveable()).isEmpty();
            stream = StateTransfer.save(source);
        }
        try (HotplugRig dest = new HotplugRig("pc", dir, startup(List.of("path=" + c, "path=" + a + ",lun=5,id=d3"), List.of()))) {
            StateTransfer.load(stream, dest);
            VirtioScsi scsi = (VirtioScsi) dest.registry.transports().getFirst().device();
            assertThat(scsi.target().lunNumbers()).containsExactly(0, 5);
            assertThat(scsi.target().lun(5).config().serial()).isEqualTo("d3");
            assertThat(scsi.target().lun(0).config().serial()).as("the --scsi disk's serial as always").isEqualTo("vmm-scsi-0");
        }
        assertThat(refusal(stream, startup(cold, List.of()))).contains("virtio-scsi at pci.0 ").contains("missing LUN 5 'd3'");
    }

    /** How many of this process's descriptors are open on {@code file}. */
    private static long openFdsOn(Path file) throws Exception {
        Path real = file.toRealPath();
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.filter(fd -> {
                try {
                    return Files.readSymbolicLink(fd).equals(real);
                } catch (Exception e) {
                    return false;
                }
            }).count();
        }
    }

    /** Loads {@code stream} into a fresh pc with {@code startup}; returns the one-line refusal. */
    private String refusal(byte[] stream, List<DeviceSpec> startup) throws Exception {
        try (HotplugRig dest = new HotplugRig("pc", dir, startup)) {
            Throwable t = org.assertj.core.api.Assertions.catchThrowable(() -> StateTransfer.load(stream, dest));
            assertThat(t).isInstanceOf(StateFormatException.class);
            assertThat(t.getMessage()).doesNotContain("\n");
            assertThat(dest.registry.transports()).allMatch(v -> !v.isActivated()).as("nothing was loaded");
            return t.getMessage();
        }
    }
}
