package dev.vmm.snapshot.devices;

import dev.vmm.migration.stream.StateFormatException;
import dev.vmm.snapshot.SectionBytes;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The {@code devices} section's comparison and byte form (issue 15). The comparison against real
 * machines is HotplugStateTest's; here the cases those rigs cannot build without a tap (a NIC's MAC)
 * or that need two differences at once.
 */
class DeviceManifestTest {
    private static final DeviceManifest.Entry HOST = new DeviceManifest.Entry("pci.0", 0, 0, "i440FX", "", -1, "", -1);
    private static final DeviceManifest.Entry NIC = new DeviceManifest.Entry("pci.0", 3, 0, "virtio-net", "", 2, "52:54:00:12:34:56", 0);
    private static final DeviceManifest.Entry DISK = new DeviceManifest.Entry("pci.0", 5, 0, "virtio-blk", "vd1", 1, "", 1);

    private static DeviceManifest of(DeviceManifest.Entry... e) {
        return new DeviceManifest(List.of(e));
    }

    @Test
    void sameDevicesAgreeAndVirtioSectionsFollowTheAddress() {
        DeviceManifest saved = of(HOST, NIC, DISK);
        // The destination has the disk first (another virtio order); the NIC saved without an id has one here.
        DeviceManifest here = of(HOST, new DeviceManifest.Entry("pci.0", 3, 0, "virtio-net", "nic0", 2, "52:54:00:12:34:56", 1),
                new DeviceManifest.Entry("pci.0", 5, 0, "virtio-blk", "vd1", 1, "", 0));
        assertThat(saved.difference(here)).isNull();
        assertThat(saved.virtioTargets(here)).containsExactly(1, 0);
    }

    @Test
    void everyDifferenceIsNamedInOneLine() {
        DeviceManifest saved = of(HOST, NIC, DISK);
        String d = saved.difference(of(HOST, new DeviceManifest.Entry("pci.0", 3, 0, "virtio-net", "", 1, "52:54:00:12:34:57", 0),
                new DeviceManifest.Entry("pci.0", 5, 0, "virtio-rng", "", 1, "", 1),
                new DeviceManifest.Entry("pci.0", 9, 0, "virtio-blk", "", 1, "", 2)));
        assertThat(d).doesNotContain("\n")
                .contains("virtio-net at pci.0 03.0 has 2 queues in the state, 1 here")
                .contains("virtio-net at pci.0 03.0 has MAC 52:54:00:12:34:56 in the state, 52:54:00:12:34:57 here")
                .contains("pci.0 05.0 is virtio-blk 'vd1' at pci.0 05.0 in the state but virtio-rng here")
                .contains("extra device virtio-blk at pci.0 09.0")
                .endsWith(": start the destination with the source's current devices (hot-plugged ones as --disk/--net with their bus=/addr=/id=,"
                        + " SCSI controllers as --scsi-controller id=,bus=,addr= and their disks as --scsi ...,controller=,lun=,id=)");
        assertThat(saved.difference(of(HOST, NIC))).startsWith("missing device virtio-blk 'vd1' at pci.0 05.0");
        assertThat(saved.difference(of(HOST, NIC, new DeviceManifest.Entry("rp1", 0, 0, "virtio-blk", "", 1, "", 1))))
                .startsWith("virtio-blk 'vd1' at pci.0 05.0 is at rp1 00.0 here");
    }

    @Test
    void aSavedQdevIdMustBeGivenAgain() {
        DeviceManifest saved = of(HOST, NIC, DISK);
        assertThat(saved.difference(of(HOST, NIC, new DeviceManifest.Entry("pci.0", 5, 0, "virtio-blk", "", 1, "", 1))))
                .startsWith("virtio-blk 'vd1' at pci.0 05.0 has id 'vd1' in the state, none here");
        assertThat(saved.difference(of(HOST, NIC, new DeviceManifest.Entry("pci.0", 5, 0, "virtio-blk", "vd2", 1, "", 1))))
                .startsWith("virtio-blk 'vd1' at pci.0 05.0 has id 'vd1' in the state, 'vd2' here");
    }

    @Test
    void byteFormRoundTripsAndHostileFormsAreRefused() throws IOException {
        DeviceManifest m = of(HOST, NIC, DISK);
        byte[] bytes = SectionBytes.of(m::write);
        assertThat(DeviceManifest.read(new DataInputStream(new ByteArrayInputStream(bytes)))).isEqualTo(m);
        assertThatThrownBy(() -> read(of(NIC, new DeviceManifest.Entry("pci.0", 3, 0, "x", "", -1, "", -1)))).isInstanceOf(StateFormatException.class).hasMessage("devices: two functions at pci.0 3.0");
        assertThatThrownBy(() -> read(of(NIC, new DeviceManifest.Entry("pci.0", 4, 0, "virtio-net", "", 2, "", 0))))
                .hasMessage("devices: bad virtio section index 0");
        assertThatThrownBy(() -> read(of(new DeviceManifest.Entry("pci.0", 40, 0, "x", "", -1, "", -1)))).hasMessage("devices: slot 40 function 0");
        assertThatThrownBy(() -> read(of(new DeviceManifest.Entry("pci.0", 1, 0, "x", "", -7, "", -1)))).hasMessage("devices: implausible queue count -7");
        byte[] huge = {0x7f, 0, 0, 0};
        assertThatThrownBy(() -> DeviceManifest.read(new DataInputStream(new ByteArrayInputStream(huge))))
                .hasMessage("devices: implausible function count 2130706432");
    }

    private static DeviceManifest read(DeviceManifest m) throws IOException {
        return DeviceManifest.read(new DataInputStream(new ByteArrayInputStream(SectionBytes.of(m::write))));
    }
}
