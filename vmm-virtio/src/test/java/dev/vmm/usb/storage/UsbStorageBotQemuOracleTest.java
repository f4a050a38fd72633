package dev.vmm.usb.storage;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import dev.vmm.chipset.testing.QemuQtest;
import dev.vmm.scsi.ScsiDisk;
import dev.vmm.scsi.ScsiTarget;
import dev.vmm.usb.UsbSetup;
import dev.vmm.usb.UsbSpeed;
import dev.vmm.usb.hid.QemuUhciHost;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Consumer;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The Bulk-Only Transport conversation with our usb-storage against QEMU 7.2's, held at test time
 * through QEMU's UHCI over qtest ({@link QemuUhciHost#bulk}): the same full-speed packets to both
 * and the transcripts ({@link BotConversation}) compared line by line, over two copies of one image.
 */
@Timeout(180)
class UsbStorageBotQemuOracleTest {
    private static final int SIZE = 1 << 20;
    @TempDir
    Path dir;

    private List<String> qemu(Path image, Consumer<BotConversation> script) throws Exception {
        try (QemuUhciHost h = new QemuUhciHost(dir, "usb-storage,drive=stick",
                "-drive", "if=none,id=stick,format=raw,cache=writethrough,file=" + image)) {
            assertThat(h.control(0, 0, UsbSetup.SET_ADDRESS, 2, 0, 0)).isNotNull();
            assertThat(h.control(2, 0, UsbSetup.SET_CONFIGURATION, 1, 0, 0)).isNotNull();
            BotConversation c = new BotConversation(BotWire.qemu(h, 2));
            try {
                script.accept(c);
            } catch (RuntimeException e) {
                throw new AssertionError("QEMU's transcript up to the failure:\n  " + String.join("\n  ", c.transcript), e);
            }
            return c.transcript;
        }
    }

    private List<String> ours(Path image, Consumer<BotConversation> script) throws Exception {
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (BlockDevice disk = Images.open(image, new Images.Options(false, ImageFormat.RAW, false, false))) {
            UsbStorage dev = new UsbStorage(new ScsiTarget(List.of(new ScsiDisk(disk, ScsiDisk.Config.of("x")))), pool,
                    UsbSpeed.FULL, "VMM0000000000001");
            BotHost host = new BotHost(dev);
            host.enumerate(new byte[1][]);
            BotConversation c = new BotConversation(BotWire.ours(host));
            script.accept(c);
            return c.transcript;
        } finally {
            pool.shutdownNow();
        }
    }

    private void compare(Consumer<BotConversation> script) throws Exception {
        QemuQtest.assumeInstalled();
        byte[] contents = new byte[SIZE];
        new Random(11).nextBytes(contents);
        Path qImage = dir.resolve("q.raw"), oImage = dir.resolve("o.raw");
        Files.write(qImage, contents);
        Files.write(oImage, contents);
        List<String> q = qemu(qImage, script), o = ours(oImage, script);
        assertThat(o).as("the transcript of our device, against QEMU's").isEqualTo(q);
        assertThat(Files.readAllBytes(oImage)).as("the image after the conversation").isEqualTo(Files.readAllBytes(qImage));
    }

    static byte[] rw10(int op, long lba, int blocks) {
        return new byte[] {(byte) op, 0, (byte) (lba >>> 24), (byte) (lba >>> 16), (byte) (lba >>> 8), (byte) lba, 0,
                (byte) (blocks >>> 8), (byte) blocks, 0};
    }

    /**
     * QEMU's scsi-disk answers the first command after power-on with CHECK CONDITION, UNIT ATTENTION
     * (power on, reset); ours has no such state (a SCSI-layer difference, not BOT's). So each
     * conversation starts with a TEST UNIT READY and a REQUEST SENSE that are left out of the
     * comparison.
     */
    private static void settle(BotConversation c) {
        c.command("settle: TEST UNIT READY", 1, 0, new byte[6], 0, null, false);
        c.command("settle: REQUEST SENSE", 2, 0, new byte[] {0x03, 0, 0, 0, 18, 0}, 18, null, false);
        c.transcript.clear();
    }

    /** Good commands in each direction (BOT §5.3): tags echoed, residue 0, status passed, the disk's bytes. */
    @Test
    void goodCommandsMoveTheSameBytesAndCsws() throws Exception {
        byte[] data = new byte[3 * 512];
        new Random(5).nextBytes(data);
        compare(c -> {
            settle(c);
            c.command("TEST UNIT READY", 0x11, 0, new byte[6], 0, null, false);
            c.command("INQUIRY 36", 0x13, 0, new byte[] {0x12, 0, 0, 0, 36, 0}, 36, null, false);
            c.command("READ CAPACITY(10)", 0x14, 0, new byte[] {0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 8, null, true);
            c.command("READ(10) 8 blocks at 100", 0x15, 0, rw10(0x28, 100, 8), 4096, null, true);
            c.command("WRITE(10) 3 blocks at 7", 0x16, 0, rw10(0x2a, 7, 3), data.length, data, false);
            c.command("READ(10) 3 blocks at 7", 0x17, 0, rw10(0x28, 7, 3), 1536, null, true);
            c.command("READ(10) 1 block at 0", 0xfedcba98, 0, rw10(0x28, 0, 1), 512, null, true);
        });
    }

    /**
     * The residue and status of failed and shorter commands (§5.2, §6.7.2 case 4 Hi > Dn and case 5
     * Hi > Di), the sense data REQUEST SENSE returns after a failed CSW, and a command without data
     * whose CBW has the direction bit set (§5.1: the bit is ignored when dCBWDataTransferLength is 0)
     * after one that left a residue: its residue is 0.
     */
    @Test
    void failedAndShortCommandsReportTheSameResidueAndSense() throws Exception {
        compare(c -> {
            settle(c);
            c.command("READ(10) past the end", 0x18, 0, rw10(0x28, SIZE / 512, 1), 512, null, true);
            c.command("REQUEST SENSE", 0x19, 0, new byte[] {0x03, 0, 0, 0, 18, 0}, 18, null, true);
            c.command("REQUEST SENSE again", 0x1a, 0, new byte[] {0x03, 0, 0, 0, 18, 0}, 18, null, true);
            c.command("unknown opcode", 0x1b, 0, new byte[] {(byte) 0xee, 0, 0, 0, 0, 0}, 0, null, false);
            c.command("REQUEST SENSE after it", 0x1c, 0, new byte[] {0x03, 0, 0, 0, 18, 0}, 18, null, true);
            c.command("INQUIRY 36 of 64", 0x1d, 0, new byte[] {0x12, 0, 0, 0, 36, 0}, 64, null, false);
            c.command("TEST UNIT READY, direction IN, no data", 0x1e, 0, new byte[6], 0, null, false);
            c.command("INQUIRY 36 of 512", 0x1f, 0, new byte[] {0x12, 0, 0, 0, 36, 0}, 512, null, false);
            c.command("TEST UNIT READY, host expects 64 bytes", 0x20, 0, new byte[6], 64, null, false);
            c.command("TEST UNIT READY again, direction IN, no data", 0x21, 0, new byte[6], 0, null, false);
        });
    }

    /**
     * A CBW that is not valid (§6.6.1: a wrong signature; 30 bytes) is refused with a STALL of bulk
     * OUT, and bulk IN stalls too; a reset recovery (§5.3.4: Bulk-Only Mass Storage Reset,
     * CLEAR_FEATURE(ENDPOINT_HALT) on bulk IN and OUT) is accepted and the next commands work. Not
     * compared: a good CBW sent before the recovery. QEMU accepts it (its stall holds for the one
     * packet); §6.6.1 says the device keeps stalling both pipes until the reset recovery, as ours
     * does (UsbStorageTest#invalidCbwsStallUntilResetRecovery).
     */
    @Test
    void resetRecoveryAfterAnInvalidCbwRestoresTheDevice() throws Exception {
        compare(c -> {
            settle(c);
            byte[] bad = BotHost.cbw(0x27, 0, true, 0, new byte[6]);
            bad[0] ^= 1;
            c.outPacket("CBW with a wrong signature", bad);
            c.inPacket("IN after it", 13);
            c.resetRecovery("reset recovery");
            c.command("TEST UNIT READY after the recovery", 0x28, 0, new byte[6], 0, null, false);
            c.outPacket("CBW of 30 bytes", java.util.Arrays.copyOf(BotHost.cbw(0x29, 0, true, 0, new byte[6]), 30));
            c.inPacket("IN after it", 13);
            c.resetRecovery("reset recovery");
            c.command("READ CAPACITY(10) after the recovery", 0x2a, 0, new byte[] {0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 8, null, true);
            c.command("READ(10) 2 blocks at 9", 0x2b, 0, rw10(0x28, 9, 2), 1024, null, true);
        });
    }
}
