package dev.vmm.usb.storage;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import dev.vmm.scsi.ScsiDisk;
import dev.vmm.scsi.ScsiTarget;
import dev.vmm.usb.UsbPacket;
import dev.vmm.usb.UsbSpeed;
import dev.vmm.usb.device.DescriptorParser;
import dev.vmm.usb.device.Descriptors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * usb-storage over a raw image file through the block layer: enumeration at SuperSpeed, BOT
 * commands checked against the file's bytes, the error paths of the BOT spec.
 */
@Timeout(60)
class UsbStorageTest {
    private static final int SIZE = 1 << 20;
    @TempDir
    Path dir;
    private final ExecutorService pool = Executors.newSingleThreadExecutor(r -> new Thread(r, "test-disk-worker"));
    /** Threads that ran commands through the executor. */
    private final List<String> diskThreads = new CopyOnWriteArrayList<>();
    private BlockDevice disk;
    private Path image;
    private byte[] contents;

    private BotHost open(boolean readOnly) throws IOException {
        image = dir.resolve("usb.img");
        contents = new byte[SIZE];
        new Random(7).nextBytes(contents);
        Files.write(image, contents);
        disk = Images.open(image, new Images.Options(readOnly, ImageFormat.RAW, false, false));
        ScsiTarget target = new ScsiTarget(List.of(new ScsiDisk(disk, ScsiDisk.Config.of("USB0"))));
        UsbStorage dev = new UsbStorage(target, r -> pool.execute(() -> {
            diskThreads.add(Thread.currentThread().getName());
            r.run();
        }), UsbSpeed.SUPER, "VMM0000000000001");
        BotHost host = new BotHost(dev);
        host.enumerate(new byte[1][]);
        return host;
    }

    @AfterEach
    void close() throws InterruptedException {
        pool.shutdownNow();
        pool.awaitTermination(10, TimeUnit.SECONDS);
        if (disk != null) disk.close();
    }

    private static byte[] rw10(int op, long lba, int blocks) {
        return new byte[] {(byte) op, 0, (byte) (lba >>> 24), (byte) (lba >>> 16), (byte) (lba >>> 8), (byte) lba, 0,
                (byte) (blocks >>> 8), (byte) blocks, 0};
    }

    @Test
    void enumeratesAsASuperSpeedBulkOnlyDevice() throws IOException {
        image = dir.resolve("e.img");
        Files.write(image, new byte[SIZE]);
        disk = Images.open(image, new Images.Options(true, ImageFormat.RAW, false, false));
        UsbStorage dev = new UsbStorage(new ScsiTarget(List.of(new ScsiDisk(disk, ScsiDisk.Config.of("x")))), pool,
                UsbSpeed.SUPER, "VMM0000000000001");
        BotHost host = new BotHost(dev);
        byte[][] d = new byte[1][];
        DescriptorParser.Parsed c = host.enumerate(d);
        assertThat(d[0][2] & 0xff | (d[0][3] & 0xff) << 8).isEqualTo(0x0300);
        assertThat(d[0][7]).isEqualTo((byte) 9); // 2^9 = 512 at SuperSpeed
        DescriptorParser.Interface i = c.interfaces().get(0);
        assertThat(List.of(i.interfaceClass(), i.subClass(), i.protocol())).containsExactly(8, 6, 0x50);
        assertThat(i.endpoints()).extracting(Descriptors.Endpoint::address).containsExactly(0x81, 0x02);
        assertThat(i.endpoints()).allSatisfy(e -> {
            assertThat(e.type()).isEqualTo(Descriptors.EP_BULK);
            assertThat(e.maxPacket()).isEqualTo(1024);
            assertThat(e.companion()).isNotNull();
            assertThat(e.companion().maxBurst()).isEqualTo(15);
        });
        BotHost.Result bos = host.descriptor(Descriptors.BOS, 0, 5);
        int total = bos.data()[2] & 0xff | (bos.data()[3] & 0xff) << 8;
        assertThat(DescriptorParser.bos(host.descriptor(Descriptors.BOS, 0, total).data())).containsExactly(2, 3);
        // A SuperSpeed device has no Device Qualifier.
        assertThat(host.descriptor(Descriptors.DEVICE_QUALIFIER, 0, 10).status()).isEqualTo(UsbPacket.Status.STALL);
        assertThat(DescriptorParser.string(host.descriptor(Descriptors.STRING, 3, 255).data())).isEqualTo("VMM0000000000001");
        assertThat(host.control(0xa1, 0xfe, 0, 0, 1).data()).containsExactly(0); // Get Max LUN
        assertThat(host.control(0x00, 48, 0, 0, 6).status()).isEqualTo(UsbPacket.Status.SUCCESS); // SET_SEL
        assertThat(host.control(0x00, 49, 40, 0, 0).status()).isEqualTo(UsbPacket.Status.SUCCESS); // SET_ISOCH_DELAY
    }

    @Test
    void scsiCommandsThroughBot() throws IOException {
        BotHost host = open(false);
        BotHost.Command tur = host.command(1, new byte[6], 0, null);
        assertThat(List.of(tur.signature(), tur.tag(), tur.status())).containsExactly(CommandStatusWrapper.SIGNATURE, 1, 0);
        BotHost.Command inq = host.command(2, new byte[] {0x12, 0, 0, 0, 36, 0}, 36, null);
        assertThat(inq.status()).isZero();
        assertThat(inq.dataIn()).hasSize(36);
        assertThat(new String(inq.dataIn(), 8, 8).trim()).isEqualTo(ScsiDisk.VENDOR);
        BotHost.Command cap = host.command(3, new byte[] {0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 8, null);
        ByteBuffer cb = ByteBuffer.wrap(cap.dataIn());
        assertThat(cb.getInt()).isEqualTo(SIZE / 512 - 1);
        assertThat(cb.getInt()).isEqualTo(512);
        BotHost.Command cap16 = host.command(4, new byte[] {(byte) 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0}, 32, null);
        assertThat(ByteBuffer.wrap(cap16.dataIn()).getLong()).isEqualTo(SIZE / 512 - 1);
        // READ(10) of 8 blocks at LBA 100: the file's bytes.
        BotHost.Command read = host.command(5, rw10(0x28, 100, 8), 4096, null);
        assertThat(read.status()).isZero();
        assertThat(read.residue()).isZero();
        assertThat(read.dataIn()).isEqualTo(Arrays.copyOfRange(contents, 100 * 512, 108 * 512));
        // WRITE(10) of 3 blocks at LBA 7, then the file holds them, and READ(10) returns them.
        byte[] data = new byte[3 * 512];
        new Random(9).nextBytes(data);
        BotHost.Command write = host.command(6, rw10(0x2a, 7, 3), 0, data);
        assertThat(List.of(write.status(), write.residue())).containsExactly(0, 0L);
        assertThat(host.command(7, new byte[] {0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0, null).status()).isZero(); // SYNCHRONIZE CACHE
        assertThat(Arrays.copyOfRange(Files.readAllBytes(image), 7 * 512, 10 * 512)).isEqualTo(data);
        assertThat(host.command(8, rw10(0x28, 7, 3), 1536, null).dataIn()).isEqualTo(data);
        BotHost.Command mode = host.command(9, new byte[] {0x1a, 0, 0x3f, 0, (byte) 192, 0}, 192, null);
        assertThat(mode.status()).isZero();
        assertThat(mode.dataIn()[2] & 0x80).isZero(); // not write-protected
        // The disk commands ran on the executor's thread, not on the caller's.
        assertThat(diskThreads).isNotEmpty().allMatch("test-disk-worker"::equals);
        assertThat(diskThreads.size()).isGreaterThanOrEqualTo(4);
    }

    @Test
    void failedCommandLeavesSenseForRequestSense() throws IOException {
        BotHost host = open(false);
        BotHost.Command bad = host.command(1, rw10(0x28, SIZE / 512, 1), 512, null);
        assertThat(bad.status()).isEqualTo(CommandStatusWrapper.FAILED);
        assertThat(bad.residue()).isEqualTo(512);
        BotHost.Command sense = host.command(2, new byte[] {0x03, 0, 0, 0, 18, 0}, 18, null);
        assertThat(sense.status()).isZero();
        assertThat(sense.dataIn()[2] & 0x0f).isEqualTo(0x05);  // ILLEGAL REQUEST
        assertThat(sense.dataIn()[12] & 0xff).isEqualTo(0x21); // LBA OUT OF RANGE
        // Sense is reported once; afterwards NO SENSE.
        assertThat(host.command(3, new byte[] {0x03, 0, 0, 0, 18, 0}, 18, null).dataIn()[2] & 0x0f).isZero();
        BotHost.Command op = host.command(4, new byte[] {(byte) 0xee, 0, 0, 0, 0, 0}, 0, null);
        assertThat(op.status()).isEqualTo(CommandStatusWrapper.FAILED);
        assertThat(host.command(5, new byte[] {0x03, 0, 0, 0, 18, 0}, 18, null).dataIn()[12] & 0xff).isEqualTo(0x20);
    }

    @Test
    void shortReadHasAResidueAndOverlongCommandIsAPhaseError() throws IOException {
        BotHost host = open(false);
        // INQUIRY for 36 bytes while the host offers 512: a short packet, then residue 476.
        BotHost.Command inq = host.command(1, new byte[] {0x12, 0, 0, 0, 36, 0}, 512, null);
        assertThat(inq.dataIn()).hasSize(36);
        assertThat(inq.residue()).isEqualTo(512 - 36);
        // READ of 8 blocks while the host expects 512 bytes (Hi < Di): phase error, nothing sent.
        BotHost.Command over = host.command(2, rw10(0x28, 0, 8), 512, null);
        assertThat(over.status()).isEqualTo(CommandStatusWrapper.PHASE_ERROR);
        assertThat(over.dataIn()).isEmpty();
        host.resetRecovery();
        // WRITE announced as data-in (Hi <> Do): phase error as well.
        BotHost.Command wrongDir = host.command(3, rw10(0x2a, 0, 1), 512, null);
        assertThat(wrongDir.status()).isEqualTo(CommandStatusWrapper.PHASE_ERROR);
        host.resetRecovery();
        assertThat(host.command(4, new byte[6], 0, null).status()).isZero();
        assertThat(Files.readAllBytes(image)).isEqualTo(contents); // nothing was written
    }

    /**
     * BOT §5.1: bmCBWFlags' direction bit is ignored when dCBWDataTransferLength is 0, and §5.2:
     * dCSWDataResidue is dCBWDataTransferLength minus the data processed, so 0 for a command without
     * data whatever the command before it left (a residue, a phase error).
     */
    @Test
    void commandWithoutDataHasResidueZeroWhateverCameBefore() throws IOException {
        BotHost host = open(false);
        assertThat(host.command(1, new byte[] {0x12, 0, 0, 0, 36, 0}, 64, null).residue()).isEqualTo(28);
        BotHost.Command tur = host.command(2, new byte[6], 0, null); // direction bit IN, no data
        assertThat(List.of(tur.status(), tur.residue())).containsExactly(CommandStatusWrapper.PASSED, 0L);
        assertThat(host.command(3, rw10(0x28, 0, 8), 512, null).status()).isEqualTo(CommandStatusWrapper.PHASE_ERROR);
        host.resetRecovery();
        tur = host.command(4, new byte[6], 0, null);
        assertThat(List.of(tur.tag(), tur.status(), tur.residue())).containsExactly(4, CommandStatusWrapper.PASSED, 0L);
    }

    @Test
    void invalidCbwsStallUntilResetRecovery() throws IOException {
        BotHost host = open(false);
        byte[] good = BotHost.cbw(1, 0, true, 0, new byte[6]);
        byte[] badSignature = good.clone();
        badSignature[0] ^= 1;
        byte[] lunOutOfRange = BotHost.cbw(1, 0, true, 1, new byte[6]);
        byte[] cbLengthZero = BotHost.cbw(1, 0, true, 0);
        byte[] reservedFlag = good.clone();
        reservedFlag[12] |= 0x01;
        for (byte[] cbw : List.of(badSignature, Arrays.copyOf(good, 30), Arrays.copyOf(good, 32), lunOutOfRange,
                cbLengthZero, reservedFlag)) {
            assertThat(host.bulk(2, false, cbw).status()).isEqualTo(UsbPacket.Status.STALL);
            // Both pipes stall; clearing the halts alone does not end it (§6.6.1)...
            assertThat(host.bulk(1, true, new byte[13]).status()).isEqualTo(UsbPacket.Status.STALL);
            assertThat(host.control(0x02, 1, 0, 0x81, 0).ok()).isTrue();
            assertThat(host.control(0x02, 1, 0, 0x02, 0).ok()).isTrue();
            assertThat(host.bulk(2, false, good).status()).isEqualTo(UsbPacket.Status.STALL);
            // ...a reset recovery does.
            host.resetRecovery();
            assertThat(host.command(2, new byte[6], 0, null).status()).isZero();
        }
        // The host reading when the device expects a CBW is stalled on IN only.
        assertThat(host.bulk(1, true, new byte[13]).status()).isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.control(0x02, 1, 0, 0x81, 0).ok()).isTrue();
        assertThat(host.command(3, new byte[6], 0, null).tag()).isEqualTo(3);
    }

    @Test
    void cswWaitsWhileTheCommandRunsAndResetCancelsIt() throws Exception {
        BotHost host = open(true);
        // Block the single worker so the READ stays in flight.
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        pool.execute(() -> {
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        assertThat(host.bulk(2, false, BotHost.cbw(1, 512, true, 0, rw10(0x28, 0, 1))).ok()).isTrue();
        var data = host.start(1, true, null, new byte[512]);
        assertThat(data).isNotDone(); // NAK while the disk works
        host.device.reset();
        assertThat(BotHost.await(data).status()).isEqualTo(UsbPacket.Status.CANCELLED);
        release.countDown();
        host.enumerate(new byte[1][]);
        // The cancelled command's completion is dropped; the next command works. Read-only: writes refused.
        BotHost.Command w = host.command(2, rw10(0x2a, 0, 1), 0, new byte[512]);
        assertThat(w.status()).isEqualTo(CommandStatusWrapper.FAILED);
        assertThat(host.command(3, new byte[] {0x03, 0, 0, 0, 18, 0}, 18, null).dataIn()[2] & 0x0f).isEqualTo(0x07); // DATA PROTECT
        BotHost.Command mode = host.command(4, new byte[] {0x1a, 0, 0x3f, 0, (byte) 192, 0}, 192, null);
        assertThat(mode.dataIn()[2] & 0x80).isEqualTo(0x80); // WP
    }
}
