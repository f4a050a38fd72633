package dev.vmm.virtio.scsi;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The pieces of virtio-scsi that need no queue: the 8-byte LUN field a driver writes (virtio 1.x
 * §5.6.6.1, SAM single-level LUNs) and the controller's size limits, each at its limit and one
 * past it (no other test decoded a peripheral address or reached a limit).
 */
class VirtioScsiAddressingTest {
    private static byte[] field(int... b) {
        byte[] f = new byte[8];
        for (int i = 0; i < b.length; i++) f[i] = (byte) b[i];
        return f;
    }

    @Test
    void flatSpaceLunsUseFourteenBits() {
        assertThat(VirtioScsiLun.lun(field(1, 0, 0x40, 0))).isZero();
        assertThat(VirtioScsiLun.lun(field(1, 0, 0x40, 0xFF))).isEqualTo(255);
        assertThat(VirtioScsiLun.lun(field(1, 0, 0x41, 0x2C))).isEqualTo(300);
        assertThat(VirtioScsiLun.lun(field(1, 0, 0x7F, 0xFF))).isEqualTo(16383);
    }

    @Test
    void peripheralAddressingIsBusZeroOnly() {
        assertThat(VirtioScsiLun.lun(field(1, 0, 0, 0))).isZero();
        assertThat(VirtioScsiLun.lun(field(1, 0, 0, 0xFF))).isEqualTo(255);
        assertThat(VirtioScsiLun.lun(field(1, 0, 0x01, 5))).as("bus 1").isEqualTo(VirtioScsiLun.NO_LUN);
        assertThat(VirtioScsiLun.lun(field(1, 0, 0x3F, 5))).as("bus 63").isEqualTo(VirtioScsiLun.NO_LUN);
    }

    @Test
    void otherAddressingMethodsAndMultiLevelLunsAreNoLun() {
        assertThat(VirtioScsiLun.lun(field(1, 0, 0x80, 1))).as("logical unit addressing").isEqualTo(VirtioScsiLun.NO_LUN);
        assertThat(VirtioScsiLun.lun(field(1, 0, 0xC0, 1))).as("extended addressing").isEqualTo(VirtioScsiLun.NO_LUN);
        for (int i = 4; i < 8; i++) {
            byte[] f = field(1, 0, 0x40, 1);
            f[i] = 1;
            assertThat(VirtioScsiLun.lun(f)).as("byte %d set (a second level)", i).isEqualTo(VirtioScsiLun.NO_LUN);
        }
    }

    @Test
    void theTargetIsByteOneOfAWellFormedAddress() {
        assertThat(VirtioScsiLun.target(field(1, 0))).isZero();
        assertThat(VirtioScsiLun.target(field(1, 3))).isEqualTo(3);
        assertThat(VirtioScsiLun.target(field(1, 0xFF))).as("unsigned").isEqualTo(255);
        assertThat(VirtioScsiLun.target(field(0, 0))).isEqualTo(VirtioScsiLun.BAD_ADDRESS);
        assertThat(VirtioScsiLun.target(field(2, 0))).isEqualTo(VirtioScsiLun.BAD_ADDRESS);
    }

    @Test
    void encodeIsLinuxsLayoutAndDecodesBack() {
        assertThat(VirtioScsiLun.encode(0, 300)).containsExactly(1, 0, 0x41, 0x2C, 0, 0, 0, 0);
        assertThat(VirtioScsiLun.encode(2, 7)).containsExactly(1, 2, 0x40, 7, 0, 0, 0, 0);
        for (int lun : new int[] {0, 1, 255, 256, 16383}) {
            byte[] f = VirtioScsiLun.encode(0, lun);
            assertThat(VirtioScsiLun.lun(f)).isEqualTo(lun);
            assertThat(VirtioScsiLun.target(f)).isZero();
        }
    }

    private static ScsiConfig config(int queues, int size, int segMax, int maxSectors, int cmdPerLun, int workers) {
        return new ScsiConfig(queues, size, segMax, maxSectors, cmdPerLun, workers);
    }

    @Test
    void everyLimitIsAcceptedAtItsBoundAndRefusedPastIt() {
        assertThat(config(1, 2, 1, 1, 1, 1).numQueues()).isEqualTo(1);
        assertThat(config(ScsiConfig.MAX_QUEUES, 32768, 1, 1, 32768, 1).queueSize()).isEqualTo(32768);
        assertThatThrownBy(() -> config(0, 256, 1, 1, 1, 1)).hasMessage("virtio-scsi: queues must be 1..64, not 0");
        assertThatThrownBy(() -> config(65, 256, 1, 1, 1, 1)).hasMessage("virtio-scsi: queues must be 1..64, not 65");
        for (int bad : new int[] {1, 0, 65536, 96}) {
            assertThatThrownBy(() -> config(1, bad, 1, 1, 1, 1))
                    .hasMessage("virtio-scsi: queue size must be a power of two in 2..32768, not " + bad);
        }
        assertThatThrownBy(() -> config(1, 256, 0, 1, 1, 1)).hasMessage("virtio-scsi: seg_max must be at least 1");
        assertThatThrownBy(() -> config(1, 256, 1, 0, 1, 1)).hasMessage("virtio-scsi: max_sectors must be at least 1");
        assertThatThrownBy(() -> config(1, 256, 1, 1, 0, 1)).hasMessage("virtio-scsi: cmd_per_lun must be 1..256");
        assertThatThrownBy(() -> config(1, 256, 1, 1, 257, 1)).hasMessage("virtio-scsi: cmd_per_lun must be 1..256");
        assertThatThrownBy(() -> config(1, 256, 1, 1, 1, 0)).hasMessage("virtio-scsi: at least one worker thread");
    }

    @Test
    void defaultsAndDerivedConfigs() {
        ScsiConfig c = ScsiConfig.of(4);
        assertThat(c).isEqualTo(new ScsiConfig(4, 256, 254, 0xFFFF, 128, 4));
        assertThat(ScsiConfig.of(1).workers()).as("at least two workers").isEqualTo(2);
        assertThat(ScsiConfig.of(16).workers()).as("at most eight").isEqualTo(8);
        // A smaller queue clamps seg_max to size - 2 and cmd_per_lun to the size.
        assertThat(c.withQueueSize(64)).isEqualTo(new ScsiConfig(4, 64, 62, 0xFFFF, 64, 4));
        assertThat(c.withQueueSize(2)).isEqualTo(new ScsiConfig(4, 2, 1, 0xFFFF, 2, 4));
        assertThat(c.withQueueSize(1024)).as("a larger queue keeps them").isEqualTo(new ScsiConfig(4, 1024, 254, 0xFFFF, 128, 4));
        assertThat(c.withWorkers(1).workers()).isEqualTo(1);
        assertThat(c.withWorkers(1).queueSize()).isEqualTo(256);
    }
}
