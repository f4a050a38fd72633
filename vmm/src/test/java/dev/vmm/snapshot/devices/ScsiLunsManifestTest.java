package dev.vmm.snapshot.devices;

import dev.vmm.migration.stream.StateFormatException;
import dev.vmm.snapshot.SectionBytes;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The {@code devices} section's version 2 part (issue 15): each virtio-scsi controller's LUN set —
 * byte form, the version 1 layout still read, hostile LUN lists refused, and the comparison naming
 * the controller and the LUN. The comparison against real machines is ScsiLunStateTest's.
 */
class ScsiLunsManifestTest {
    private static final ScsiLuns.Lun L1 = new ScsiLuns.Lun(0, 1, "d1", 2048, 512, false, "d1");
    private static final ScsiLuns.Lun L3 = new ScsiLuns.Lun(0, 3, "", 4096, 512, true, "vmm-scsi-s1.0-3");

    private static DeviceManifest controller(ScsiLuns.Lun... luns) {
        return new DeviceManifest(List.of(new DeviceManifest.Entry("pci.0", 0, 0, "i440FX", "", -1, "", -1),
                new DeviceManifest.Entry("pci.0", 5, 0, "virtio-scsi", "s1", 3, "", 0, List.of(luns))));
    }

    private static DeviceManifest read(byte[] bytes, int version) throws IOException {
        return DeviceManifest.read(new DataInputStream(new ByteArrayInputStream(bytes)), version);
    }

    @Test
    void lunSetsRoundTripAndVersionOneStillReads() throws IOException {
        DeviceManifest m = controller(L1, L3);
        assertThat(read(SectionBytes.of(m::write), 2)).isEqualTo(m);
        assertThat(read(SectionBytes.of(controller()::write), 2)).isEqualTo(controller());
        // Version 1: the same entries without LUN lists (what a VMM before issue 15's SCSI part wrote).
        ByteArrayOutputStream v1 = new ByteArrayOutputStream();
        DataOutputStream o = new DataOutputStream(v1);
        o.writeInt(1);
        o.writeUTF("pci.0");
        o.writeByte(5);
        o.writeByte(0);
        o.writeUTF("virtio-scsi");
        o.writeUTF("");
        o.writeInt(3);
        o.writeUTF("");
        o.writeInt(0);
        o.flush();
        assertThat(read(v1.toByteArray(), 1).entries()).singleElement()
                .isEqualTo(new DeviceManifest.Entry("pci.0", 5, 0, "virtio-scsi", "", 3, "", 0));
    }

    @Test
    void hostileLunListsAreRefused() throws IOException {
        assertThatThrownBy(() -> read(SectionBytes.of(controller(L1, L1)::write), 2)).isInstanceOf(StateFormatException.class)
                .hasMessage("devices: LUN 1 twice");
        assertThatThrownBy(() -> read(SectionBytes.of(controller(new ScsiLuns.Lun(1, 0, "", 1, 512, false, "x"))::write), 2))
                .hasMessage("devices: SCSI target 1 LUN 0");
        assertThatThrownBy(() -> read(SectionBytes.of(controller(new ScsiLuns.Lun(0, 16384, "", 1, 512, false, "x"))::write), 2))
                .hasMessage("devices: SCSI target 0 LUN 16384");
        assertThatThrownBy(() -> read(SectionBytes.of(controller(new ScsiLuns.Lun(0, 2, "", 1, 1024, false, "x"))::write), 2))
                .hasMessage("devices: LUN 2 of 1 blocks of 1024 bytes");
        assertThatThrownBy(() -> read(SectionBytes.of(controller(new ScsiLuns.Lun(0, 2, "x".repeat(129), 1, 512, false, "x"))::write), 2))
                .hasMessage("devices: implausible LUN id of 129 characters");
        byte[] bytes = SectionBytes.of(controller(L1)::write);
        byte[] cut = java.util.Arrays.copyOf(bytes, bytes.length - 3);
        assertThatThrownBy(() -> read(cut, 2)).isInstanceOf(java.io.EOFException.class);
    }

    @Test
    void differencesNameTheControllerAndTheLun() {
        DeviceManifest saved = controller(L1, L3);
        assertThat(saved.difference(controller(L1, L3))).isNull();
        String tail = ": start the destination with the source's current devices";
        assertThat(saved.difference(controller(L1))).startsWith("virtio-scsi 's1' at pci.0 05.0: missing LUN 3"
                + " (4096 blocks of 512 bytes, read-only, serial vmm-scsi-s1.0-3)" + tail);
        assertThat(saved.difference(controller(L1, L3, new ScsiLuns.Lun(0, 9, "d9", 1, 512, false, "d9"))))
                .startsWith("virtio-scsi 's1' at pci.0 05.0: extra LUN 9 'd9' (1 blocks of 512 bytes, read-write, serial d9)" + tail);
        assertThat(saved.difference(controller(new ScsiLuns.Lun(0, 1, "dx", 2048, 512, false, "d1"), L3)))
                .startsWith("virtio-scsi 's1' at pci.0 05.0: LUN 1 'd1' has id 'd1' in the state, 'dx' here" + tail);
        assertThat(saved.difference(controller(new ScsiLuns.Lun(0, 1, "d1", 2048, 4096, false, "d1"), L3)))
                .startsWith("virtio-scsi 's1' at pci.0 05.0: LUN 1 'd1' is 2048 blocks of 512 bytes, read-write, serial d1 in the state,"
                        + " 2048 blocks of 4096 bytes, read-write, serial d1 here" + tail);
        // A saved LUN without an id may have one here (the --scsi disks of older streams).
        assertThat(controller(new ScsiLuns.Lun(0, 1, "", 2048, 512, false, "d1"), L3).difference(saved)).isNull();
    }
}
