package dev.vmm.usb.storage;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import dev.vmm.scsi.ScsiDisk;
import dev.vmm.scsi.ScsiTarget;
import dev.vmm.usb.UsbPacket;
import dev.vmm.usb.UsbSetup;
import dev.vmm.usb.UsbSpeed;
import dev.vmm.usb.device.DescriptorParser;
import dev.vmm.usb.device.Descriptors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * What a host controller driver sees of usb-storage's Bulk-Only Transport beyond the good path:
 * the class requests (BOT §3.1, §3.2), the thirteen cases' residues and statuses (§6.7), packet
 * boundaries of the data stages, stalls on phase mismatches, the CSW into a short buffer, REQUEST
 * SENSE answered from the kept sense (no autosense in BOT), commands the disk threads refuse, and
 * the identity at each speed. Each test states the section it checks.
 */
@Timeout(60)
class UsbStorageTransportTest {
    private static final int SIZE = 1 << 20;
    @TempDir
    Path dir;
    private final ExecutorService pool = Executors.newSingleThreadExecutor(r -> new Thread(r, "test-disk-worker"));
    private final List<BlockDevice> disks = new ArrayList<>();
    private final List<String> diskThreads = Collections.synchronizedList(new ArrayList<>());
    private byte[] contents;
    private Path image;
    private UsbStorage device;

    private UsbStorage storage(int luns, boolean readOnly, UsbSpeed speed, Executor executor) throws IOException {
        image = dir.resolve("usb.img");
        contents = new byte[SIZE];
        new Random(3).nextBytes(contents);
        Files.write(image, contents);
        List<ScsiDisk> units = new ArrayList<>();
        for (int i = 0; i < luns; i++) {
            BlockDevice d = Images.open(image, new Images.Options(readOnly, ImageFormat.RAW, false, false));
            disks.add(d);
            units.add(new ScsiDisk(d, ScsiDisk.Config.of("LUN" + i)));
        }
        device = new UsbStorage(new ScsiTarget(units), executor, speed, "0123456789AB");
        return device;
    }

    private BotHost host(int luns, boolean readOnly) throws IOException {
        BotHost h = new BotHost(storage(luns, readOnly, UsbSpeed.SUPER, r -> pool.execute(() -> {
            diskThreads.add(Thread.currentThread().getName());
            r.run();
        })));
        h.enumerate(new byte[1][]);
        return h;
    }

    @AfterEach
    void close() throws Exception {
        pool.shutdownNow();
        pool.awaitTermination(10, TimeUnit.SECONDS);
        for (BlockDevice d : disks) d.close();
    }

    /** Occupies the single disk worker until the latch is counted down: commands queued behind it stay in flight. */
    private CountDownLatch blockTheDiskWorker() {
        CountDownLatch release = new CountDownLatch(1);
        pool.execute(() -> {
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        return release;
    }

    private static int u16(byte[] b, int at) { return (b[at] & 0xff) | (b[at + 1] & 0xff) << 8; }

    static byte[] rw10(int op, long lba, int blocks) {
        return UsbStorageBotQemuOracleTest.rw10(op, lba, blocks);
    }

    private static final byte[] TUR = new byte[6];
    private static final byte[] INQUIRY_36 = {0x12, 0, 0, 0, 36, 0};

    private static byte[] requestSense(int allocation) {
        return new byte[] {0x03, 0, 0, 0, (byte) allocation, 0};
    }

    // ---- class requests -----------------------------------------------------------------------

    /** §3.2: Get Max LUN answers the highest LUN; §3.1/§3.2: requests with other fields are not these requests (STALL). */
    @Test
    void classRequestsAnswerOnlyWithTheirExactFields() throws IOException {
        BotHost host = host(3, false);
        assertThat(host.control(0xa1, UsbStorage.GET_MAX_LUN, 0, 0, 1).data()).containsExactly(2);
        assertThat(host.control(0xa1, UsbStorage.GET_MAX_LUN, 0, 1, 1).status()).as("interface 1").isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.control(0xa1, UsbStorage.GET_MAX_LUN, 1, 0, 1).status()).as("wValue 1").isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.control(0xa1, UsbStorage.GET_MAX_LUN, 0, 0, 2).status()).as("wLength 2").isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.control(0xc1, UsbStorage.GET_MAX_LUN, 0, 0, 1).status()).as("vendor type").isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.control(0xa2, UsbStorage.GET_MAX_LUN, 0, 0x81, 1).status()).as("endpoint recipient").isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.control(0x21, UsbStorage.GET_MAX_LUN, 0, 0, 0).status()).as("Get Max LUN host-to-device").isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.control(0xa1, UsbStorage.BULK_ONLY_RESET, 0, 0, 0).status()).as("reset device-to-host").isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.control(0x21, UsbStorage.BULK_ONLY_RESET, 0, 0, 1).status()).as("reset with data").isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.control(0x21, 0xfd, 0, 0, 0).status()).as("another class request").isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.control(0x21, UsbStorage.BULK_ONLY_RESET, 0, 0, 0).ok()).isTrue();
        // Every LUN answers; a CBW for LUN 3 of 3 is not meaningful (§6.2.1).
        for (int lun = 0; lun < 3; lun++) {
            assertThat(host.bulk(2, false, BotHost.cbw(lun, 0, false, lun, TUR)).ok()).isTrue();
            assertThat(host.csw(new byte[0]).tag()).isEqualTo(lun);
        }
        assertThat(host.bulk(2, false, BotHost.cbw(3, 0, false, 3, TUR)).status()).isEqualTo(UsbPacket.Status.STALL);
    }

    /** §3.1: the Bulk-Only Mass Storage Reset ends the command in progress; the next CBW starts afresh. */
    @Test
    void bulkOnlyResetAbandonsADataStage() throws IOException {
        BotHost host = host(1, false);
        assertThat(host.bulk(2, false, BotHost.cbw(1, 2048, false, 0, rw10(0x2a, 0, 4))).ok()).isTrue();
        assertThat(host.bulk(2, false, new byte[1024]).ok()).isTrue(); // half the data (a full packet: no end yet)
        host.resetRecovery();
        BotHost.Command tur = host.command(2, TUR, 0, null);
        assertThat(List.of(tur.tag(), tur.status(), tur.residue())).containsExactly(2, 0, 0L);
        assertThat(Files.readAllBytes(image)).as("the abandoned write wrote nothing").isEqualTo(contents);
    }

    @Test
    void moreThanSixteenLunsAreRefused() throws IOException {
        assertThatThrownBy(() -> storage(17, true, UsbSpeed.SUPER, Runnable::run)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("16 LUNs");
        for (BlockDevice d : disks) d.close();
        disks.clear();
        BotHost host = new BotHost(storage(16, true, UsbSpeed.SUPER, Runnable::run));
        host.enumerate(new byte[1][]);
        assertThat(host.control(0xa1, UsbStorage.GET_MAX_LUN, 0, 0, 1).data()).containsExactly(15);
    }

    // ---- data stages and the thirteen cases ---------------------------------------------------

    /**
     * A data-out stage longer than the largest transfer the device buffers (ScsiDisk.MAX_TRANSFER_BYTES):
     * every packet is accepted and counted, the buffer keeps what fits, and the command runs once the
     * announced length came (here a WRITE past the end of the disk: failed, nothing processed).
     */
    @Test
    void dataOutBeyondTheLargestBufferIsCountedNotStored() throws IOException {
        BotHost host = host(1, false);
        long length = UsbStorage.MAX_BUFFER + 1024L;
        assertThat(host.bulk(2, false, BotHost.cbw(1, length, false, 0, rw10(0x2a, 0, 0xffff))).ok()).isTrue();
        assertThat(host.bulk(2, false, new byte[1024]).data()).hasSize(1024);
        BotHost.Result rest = host.bulk(2, false, new byte[UsbStorage.MAX_BUFFER]);
        assertThat(List.of(rest.status(), rest.data().length)).containsExactly(UsbPacket.Status.SUCCESS, UsbStorage.MAX_BUFFER);
        BotHost.Command csw = host.csw(new byte[0]);
        assertThat(List.of(csw.tag(), csw.status(), csw.residue())).containsExactly(1, CommandStatusWrapper.FAILED, length);
        assertThat(Files.readAllBytes(image)).isEqualTo(contents);
    }

    /** §6.7.2: a data-in stage of several packets ends when the host's length is reached, not before. */
    @Test
    void dataInSpansPacketsUntilTheHostsLength() throws IOException {
        BotHost host = host(1, false);
        assertThat(host.bulk(2, false, BotHost.cbw(7, 2048, true, 0, rw10(0x28, 10, 4))).ok()).isTrue();
        BotHost.Result first = host.bulk(1, true, new byte[1024]);
        BotHost.Result second = host.bulk(1, true, new byte[1024]);
        assertThat(first.data()).isEqualTo(Arrays.copyOfRange(contents, 10 * 512, 12 * 512));
        assertThat(second.data()).isEqualTo(Arrays.copyOfRange(contents, 12 * 512, 14 * 512));
        BotHost.Command csw = host.csw(new byte[0]);
        assertThat(List.of(csw.tag(), csw.status(), csw.residue())).containsExactly(7, 0, 0L);
        assertThat(host.device).isSameAs(device);
        assertThat(device.commands()).isEqualTo(1);
    }

    /** §6.7.3 case 12 (Ho = Do) over several packets: the command runs once all of them came. */
    @Test
    void dataOutSpansPacketsAndRunsWhenComplete() throws IOException {
        BotHost host = host(1, false);
        byte[] data = new byte[2048];
        new Random(1).nextBytes(data);
        assertThat(host.bulk(2, false, BotHost.cbw(8, 2048, false, 0, rw10(0x2a, 30, 4))).ok()).isTrue();
        BotHost.Result a = host.bulk(2, false, Arrays.copyOfRange(data, 0, 1024));
        assertThat(List.of(a.status(), a.data().length)).containsExactly(UsbPacket.Status.SUCCESS, 1024);
        // Mid-stage the device still expects data: an IN is a phase mismatch, stalled on IN only.
        assertThat(host.bulk(1, true, new byte[13]).status()).isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.control(0x02, UsbSetup.CLEAR_FEATURE, 0, 0x81, 0).ok()).isTrue();
        assertThat(host.bulk(2, false, Arrays.copyOfRange(data, 1024, 2048)).ok()).isTrue();
        BotHost.Command csw = host.csw(new byte[0]);
        assertThat(List.of(csw.tag(), csw.status(), csw.residue())).containsExactly(8, 0, 0L);
        assertThat(Arrays.copyOfRange(Files.readAllBytes(image), 30 * 512, 34 * 512)).isEqualTo(data);
    }

    /** §6.7.3 case 11 (Ho > Do): the device takes what it needs; residue = what it did not process, status passed. */
    @Test
    void hostSendingMoreThanTheCommandNeedsGetsTheRestAsResidue() throws IOException {
        BotHost host = host(1, false);
        byte[] data = new byte[1024];
        new Random(2).nextBytes(data);
        BotHost.Command w = host.command(9, rw10(0x2a, 40, 1), 0, data);
        assertThat(List.of(w.status(), w.residue())).containsExactly(CommandStatusWrapper.PASSED, 512L);
        assertThat(Arrays.copyOfRange(Files.readAllBytes(image), 40 * 512, 41 * 512)).isEqualTo(Arrays.copyOf(data, 512));
        assertThat(Arrays.copyOfRange(Files.readAllBytes(image), 41 * 512, 42 * 512)).isEqualTo(Arrays.copyOfRange(contents, 41 * 512, 42 * 512));
    }

    /**
     * §6.7.3 case 13 (Ho < Do): a short packet ends the data-out stage early, the command cannot
     * complete: phase error, nothing written. A packet longer than the CBW announced counts only
     * what was announced.
     */
    @Test
    void shortDataOutIsAPhaseErrorAndExtraBytesAreNotCounted() throws IOException {
        BotHost host = host(1, false);
        assertThat(host.bulk(2, false, BotHost.cbw(10, 1024, false, 0, rw10(0x2a, 50, 2))).ok()).isTrue();
        BotHost.Result part = host.bulk(2, false, new byte[512]); // 512 < 1024 = max packet: short
        assertThat(part.data()).hasSize(512);
        BotHost.Command csw = host.csw(new byte[0]);
        assertThat(List.of(csw.tag(), csw.status(), csw.residue())).containsExactly(10, CommandStatusWrapper.PHASE_ERROR, 1024L);
        host.resetRecovery();
        // A zero-length packet ends the stage as well.
        assertThat(host.bulk(2, false, BotHost.cbw(11, 512, false, 0, rw10(0x2a, 50, 1))).ok()).isTrue();
        assertThat(host.bulk(2, false, new byte[0]).ok()).isTrue();
        assertThat(host.csw(new byte[0]).status()).isEqualTo(CommandStatusWrapper.PHASE_ERROR);
        host.resetRecovery();
        // 2048 bytes sent where 512 were announced: 512 taken.
        assertThat(host.bulk(2, false, BotHost.cbw(12, 512, false, 0, rw10(0x2a, 50, 1))).ok()).isTrue();
        BotHost.Result big = host.bulk(2, false, new byte[2048]);
        assertThat(List.of(big.status(), big.data().length)).containsExactly(UsbPacket.Status.SUCCESS, 512);
        assertThat(host.csw(new byte[0]).residue()).isZero();
        // 1536 announced, a full packet of 1024, then 1024 more: 512 of the second are taken.
        assertThat(host.bulk(2, false, BotHost.cbw(13, 1536, false, 0, rw10(0x2a, 60, 3))).ok()).isTrue();
        assertThat(host.bulk(2, false, new byte[1024]).data()).hasSize(1024);
        assertThat(host.bulk(2, false, new byte[1024]).data()).hasSize(512);
        BotHost.Command three = host.csw(new byte[0]);
        assertThat(List.of(three.tag(), three.status(), three.residue())).containsExactly(13, 0, 0L);
        assertThat(Arrays.copyOfRange(Files.readAllBytes(image), 51 * 512, 52 * 512)).isEqualTo(Arrays.copyOfRange(contents, 51 * 512, 52 * 512));
    }

    /** §6.7.2: the host sends a bulk OUT while the device has data for it: stalled on OUT, the data stage goes on. */
    @Test
    void outDuringDataInIsStalledAndTheDataStageContinues() throws IOException {
        BotHost host = host(1, false);
        assertThat(host.bulk(2, false, BotHost.cbw(13, 512, true, 0, rw10(0x28, 3, 1))).ok()).isTrue();
        assertThat(host.bulk(2, false, new byte[512]).status()).isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.bulk(2, false, BotHost.cbw(14, 0, true, 0, TUR)).status()).as("halted").isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.bulk(1, true, new byte[512]).data()).isEqualTo(Arrays.copyOfRange(contents, 3 * 512, 4 * 512));
        assertThat(host.csw(new byte[0]).tag()).isEqualTo(13);
        // The halt stays after the command ended, until the host clears it.
        assertThat(host.bulk(2, false, BotHost.cbw(14, 0, true, 0, TUR)).status()).as("still halted").isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.control(0x02, UsbSetup.CLEAR_FEATURE, 0, 0x02, 0).ok()).isTrue();
        assertThat(host.command(15, TUR, 0, null).tag()).isEqualTo(15);
    }

    /** §5.3.3: a CSW read into a buffer shorter than 13 bytes overflows it (babble); the CSW is spent. */
    @Test
    void cswIntoAShortBufferIsBabble() throws IOException {
        BotHost host = host(1, false);
        assertThat(host.bulk(2, false, BotHost.cbw(16, 0, false, 0, TUR)).ok()).isTrue();
        BotHost.Result r = host.bulk(1, true, new byte[8]);
        assertThat(r.status()).isEqualTo(UsbPacket.Status.BABBLE);
        assertThat(r.data()).containsExactly(0x55, 0x53, 0x42, 0x53, 16, 0, 0, 0);
        assertThat(host.command(17, TUR, 0, null).tag()).as("the device expects the next CBW").isEqualTo(17);
    }

    // ---- REQUEST SENSE without autosense -------------------------------------------------------

    /** The kept sense is cut to the allocation length and to the host's length; a DESC=1 REQUEST SENSE goes to the disk and leaves it kept. */
    @Test
    void keptSenseIsCutToTheShorterLength() throws IOException {
        BotHost host = host(2, false);
        byte[] oneBlockPastTheEnd = rw10(0x28, SIZE / 512, 1);
        // Allocation length 8: 8 bytes, residue of the rest of the host's 18.
        assertThat(host.command(1, oneBlockPastTheEnd, 512, null).status()).isEqualTo(CommandStatusWrapper.FAILED);
        BotHost.Command s8 = host.command(2, requestSense(8), 18, null);
        assertThat(s8.dataIn()).hasSize(8);
        assertThat(s8.dataIn()[2] & 0x0f).isEqualTo(5);
        assertThat(List.of(s8.status(), s8.residue())).containsExactly(0, 10L);
        // Host length 13 below the allocation length 18: 13 bytes, no residue.
        assertThat(host.command(3, oneBlockPastTheEnd, 512, null).status()).isEqualTo(CommandStatusWrapper.FAILED);
        BotHost.Command s13 = host.command(4, requestSense(18), 13, null);
        assertThat(s13.dataIn()).hasSize(13);
        assertThat(List.of(s13.status(), s13.residue())).containsExactly(0, 0L);
        assertThat(s13.dataIn()[12] & 0xff).isEqualTo(0x21);
        // DESC=1: not the kept fixed-format sense; the next fixed REQUEST SENSE still gets it.
        assertThat(host.command(5, oneBlockPastTheEnd, 512, null).status()).isEqualTo(CommandStatusWrapper.FAILED);
        BotHost.Command desc = host.command(6, new byte[] {0x03, 1, 0, 0, 18, 0}, 18, null);
        assertThat(desc.dataIn().length == 0 || (desc.dataIn()[0] & 0x7f) != 0x70 || (desc.dataIn()[2] & 0x0f) != 5).isTrue();
        assertThat(host.command(7, requestSense(18), 18, null).dataIn()[12] & 0xff).isEqualTo(0x21);
        // Sense is per LUN: LUN 1 has none after LUN 0 failed.
        assertThat(host.command(8, oneBlockPastTheEnd, 512, null).status()).isEqualTo(CommandStatusWrapper.FAILED);
        assertThat(host.bulk(2, false, BotHost.cbw(9, 18, true, 1, requestSense(18))).ok()).isTrue();
        assertThat(host.bulk(1, true, new byte[18]).data()[2] & 0x0f).isZero();
        host.csw(new byte[0]);
        // A reset forgets the kept sense (§3.1: the device is ready for the next CBW).
        host.resetRecovery();
        assertThat(host.command(10, requestSense(18), 18, null).dataIn()[2] & 0x0f).isZero();
    }

    /** §5.2: a failed data-out command processed none of its data: residue = dCBWDataTransferLength. */
    @Test
    void failedWriteHasTheWholeLengthAsResidue() throws IOException {
        BotHost host = host(1, true);
        BotHost.Command w = host.command(1, rw10(0x2a, 0, 1), 0, new byte[512]);
        assertThat(List.of(w.status(), w.residue())).containsExactly(CommandStatusWrapper.FAILED, 512L);
        assertThat(host.command(2, requestSense(18), 18, null).dataIn()[2] & 0x0f).isEqualTo(7);
    }

    /** Commands without disk I/O run on the caller's thread; those with I/O on the executor; a refusing executor fails the command. */
    @Test
    void diskCommandsGoToTheExecutorAndFailWhenItRefuses() throws IOException {
        BotHost host = host(1, false);
        assertThat(host.command(1, INQUIRY_36, 36, null).status()).isZero();
        assertThat(diskThreads).as("INQUIRY touches no disk").isEmpty();
        assertThat(host.command(2, rw10(0x28, 0, 1), 512, null).status()).isZero();
        assertThat(diskThreads).containsExactly("test-disk-worker");
        pool.shutdown();
        // The executor refuses (shutting down): the command fails, nothing moves, residue = all.
        BotHost.Command refused = host.command(3, rw10(0x28, 0, 1), 512, null);
        assertThat(List.of(refused.tag(), refused.status(), refused.residue())).containsExactly(3, CommandStatusWrapper.FAILED, 512L);
        assertThat(refused.dataIn()).isEmpty();
        BotHost.Command refusedOut = host.command(4, rw10(0x2a, 0, 1), 0, new byte[512]);
        assertThat(List.of(refusedOut.status(), refusedOut.residue())).containsExactly(CommandStatusWrapper.FAILED, 512L);
        assertThat(host.command(5, requestSense(18), 18, null).dataIn()[2] & 0x0f).as("no sense from a refused command").isZero();
    }

    // ---- in-flight commands: quiesce, cancel --------------------------------------------------

    @Test
    void quiesceWaitsForTheRunningCommand() throws Exception {
        BotHost host = host(1, false);
        CountDownLatch release = blockTheDiskWorker();
        assertThat(host.bulk(2, false, BotHost.cbw(1, 512, true, 0, rw10(0x28, 5, 1))).ok()).isTrue();
        assertThat(device.quiesce(TimeUnit.MILLISECONDS.toNanos(50))).as("a command is running").isFalse();
        assertThatThrownBy(() -> device.saveState(new java.io.DataOutputStream(new java.io.ByteArrayOutputStream())))
                .hasMessageContaining("still running");
        var waiting = host.start(1, true, null, new byte[512]);
        assertThat(waiting).isNotDone(); // NAK while the disk works
        // Cancelling a packet the device does not hold only completes it.
        UsbPacket pending = new UsbPacket(1, true, null, new byte[512], p -> { });
        device.cancel(pending);
        assertThat(pending.status()).isEqualTo(UsbPacket.Status.CANCELLED);
        release.countDown();
        assertThat(device.quiesce(TimeUnit.SECONDS.toNanos(10))).isTrue();
        assertThat(BotHost.await(waiting).data()).isEqualTo(Arrays.copyOfRange(contents, 5 * 512, 6 * 512));
        assertThat(host.csw(new byte[0]).tag()).isEqualTo(1);
        assertThat(device.quiesce(0)).as("nothing running").isTrue();
    }

    @Test
    void cancelledWaitingInIsNotServed() throws Exception {
        BotHost host = host(1, false);
        CountDownLatch release = blockTheDiskWorker();
        assertThat(host.bulk(2, false, BotHost.cbw(1, 512, true, 0, rw10(0x28, 6, 1))).ok()).isTrue();
        List<UsbPacket> completed = Collections.synchronizedList(new ArrayList<>());
        UsbPacket first = new UsbPacket(1, true, null, new byte[512], completed::add);
        device.handle(first);
        device.cancel(first);
        assertThat(first.status()).isEqualTo(UsbPacket.Status.CANCELLED);
        var second = host.start(1, true, null, new byte[512]);
        release.countDown();
        assertThat(BotHost.await(second).data()).isEqualTo(Arrays.copyOfRange(contents, 6 * 512, 7 * 512));
        assertThat(completed).containsExactly(first);
        assertThat(host.csw(new byte[0]).status()).isZero();
    }

    /**
     * §3.1: the Bulk-Only Mass Storage Reset keeps the endpoints' STALL conditions; the host clears
     * each with CLEAR_FEATURE(ENDPOINT_HALT) (§5.3.4). So after an invalid CBW and the reset alone, a
     * CBW is stalled on OUT until that halt is cleared, and the CSW on IN until that one is.
     */
    @Test
    void haltsOutliveTheBulkOnlyResetUntilEachIsCleared() throws IOException {
        BotHost host = host(1, false);
        assertThat(host.bulk(2, false, new byte[31]).status()).isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.control(0x21, UsbStorage.BULK_ONLY_RESET, 0, 0, 0).ok()).isTrue();
        assertThat(host.bulk(2, false, BotHost.cbw(1, 0, false, 0, TUR)).status()).as("OUT still halted").isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.control(0x02, UsbSetup.CLEAR_FEATURE, 0, 0x02, 0).ok()).isTrue();
        assertThat(host.bulk(2, false, BotHost.cbw(2, 0, false, 0, TUR)).ok()).isTrue();
        assertThat(host.bulk(1, true, new byte[13]).status()).as("IN still halted").isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.control(0x02, UsbSetup.CLEAR_FEATURE, 0, 0x81, 0).ok()).isTrue();
        assertThat(host.csw(new byte[0]).tag()).isEqualTo(2);
        // An IN where a CBW is expected halts IN (§6.7: phase mismatch) until it is cleared, across a command.
        assertThat(host.bulk(1, true, new byte[13]).status()).isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.bulk(2, false, BotHost.cbw(3, 0, false, 0, TUR)).ok()).isTrue();
        assertThat(host.bulk(1, true, new byte[13]).status()).as("IN still halted").isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.control(0x02, UsbSetup.CLEAR_FEATURE, 0, 0x81, 0).ok()).isTrue();
        assertThat(host.csw(new byte[0]).tag()).isEqualTo(3);
    }

    /** §6.7.2: a full packet that holds the last relevant byte does not end the stage before the host's length; the next packet is short (empty). */
    @Test
    void dataInEndsWithAShortPacketOrAtTheHostsLength() throws IOException {
        BotHost host = host(1, false);
        assertThat(host.bulk(2, false, BotHost.cbw(1, 64, true, 0, INQUIRY_36)).ok()).isTrue();
        assertThat(host.bulk(1, true, new byte[36]).data()).hasSize(36);
        assertThat(host.bulk(1, true, new byte[28]).data()).as("a zero-length packet ends the stage").isEmpty();
        BotHost.Command csw = host.csw(new byte[0]);
        assertThat(List.of(csw.tag(), csw.residue())).containsExactly(1, 28L);
    }

    /**
     * A command abandoned by a reset finishes later, while the next command is already waiting for the
     * disk thread: its data must not reach the next command's data stage (§3.1: after the reset the
     * device serves the next CBW only).
     */
    @Test
    void aCommandFinishingAfterTheResetDoesNotAnswerTheNextOne() throws Exception {
        BotHost host = host(1, false);
        CountDownLatch release = blockTheDiskWorker();
        assertThat(host.bulk(2, false, BotHost.cbw(1, 512, true, 0, rw10(0x28, 70, 1))).ok()).isTrue();
        host.resetRecovery();
        assertThat(host.bulk(2, false, BotHost.cbw(2, 512, true, 0, rw10(0x28, 80, 1))).ok()).isTrue();
        var in = host.start(1, true, null, new byte[512]);
        release.countDown(); // the worker runs the abandoned READ, then the new one
        assertThat(BotHost.await(in).data()).isEqualTo(Arrays.copyOfRange(contents, 80 * 512, 81 * 512));
        assertThat(host.csw(new byte[0]).tag()).isEqualTo(2);
    }

    /** quiesce returns as soon as the command ends (woken by it), not at its own time-out. */
    @Test
    void quiesceIsWokenByTheCommandsEnd() throws Exception {
        BotHost host = host(1, false);
        CountDownLatch release = blockTheDiskWorker();
        assertThat(host.bulk(2, false, BotHost.cbw(1, 0, false, 0, new byte[] {0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0})).ok()).isTrue();
        java.util.concurrent.CompletableFuture<Boolean> quiesced = new java.util.concurrent.CompletableFuture<>();
        Thread waiter = new Thread(() -> {
            try {
                quiesced.complete(device.quiesce(TimeUnit.MINUTES.toNanos(5)));
            } catch (InterruptedException e) {
                quiesced.completeExceptionally(e);
            }
        }, "quiesce-waiter");
        waiter.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (waiter.getState() != Thread.State.TIMED_WAITING) {
            assertThat(System.nanoTime()).as("the waiter waits in quiesce").isLessThan(deadline);
            java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
        }
        assertThat(quiesced).isNotDone();
        release.countDown();
        assertThat(quiesced.get(20, TimeUnit.SECONDS)).isTrue();
        assertThat(host.csw(new byte[0]).status()).isZero();
    }

    // ---- identity at each speed ------------------------------------------------------------------

    @Test
    void highAndFullSpeedIdentity() throws IOException {
        for (UsbSpeed speed : List.of(UsbSpeed.HIGH, UsbSpeed.FULL)) {
            for (BlockDevice d : disks) d.close();
            disks.clear();
            BotHost host = new BotHost(storage(1, true, speed, Runnable::run));
            byte[][] dev = new byte[1][];
            DescriptorParser.Parsed cfg = host.enumerate(dev);
            int max = speed == UsbSpeed.HIGH ? 512 : 64, other = speed == UsbSpeed.HIGH ? 64 : 512;
            assertThat(u16(dev[0], 2)).as("bcdUSB at %s", speed).isEqualTo(0x0200);
            assertThat(u16(dev[0], 8)).as("idVendor").isEqualTo(0x46f4);
            assertThat(u16(dev[0], 10)).as("idProduct").isEqualTo(0x0001);
            assertThat(Arrays.copyOfRange(dev[0], 14, 18)).as("iManufacturer, iProduct, iSerialNumber, configurations").containsExactly(1, 2, 3, 1);
            assertThat(cfg.interfaces().getFirst().endpoints()).allSatisfy(e -> {
                assertThat(e.maxPacket()).isEqualTo(max);
                assertThat(e.companion()).isNull();
            });
            assertThat(cfg.attributes() & 0x40).as("self-powered").isEqualTo(0x40);
            BotHost.Result q = host.descriptor(Descriptors.DEVICE_QUALIFIER, 0, 10);
            assertThat(q.ok()).isTrue();
            BotHost.Result head = host.descriptor(Descriptors.OTHER_SPEED_CONFIGURATION, 0, 9);
            int total = u16(head.data(), 2);
            byte[] otherBytes = host.descriptor(Descriptors.OTHER_SPEED_CONFIGURATION, 0, total).data();
            otherBytes[1] = Descriptors.CONFIGURATION;
            assertThat(DescriptorParser.configuration(otherBytes, false).interfaces().getFirst().endpoints())
                    .allSatisfy(e -> assertThat(e.maxPacket()).isEqualTo(other));
            assertThat(DescriptorParser.string(host.descriptor(Descriptors.STRING, 1, 255).data())).isEqualTo("VMM");
            assertThat(DescriptorParser.string(host.descriptor(Descriptors.STRING, 2, 255).data())).isEqualTo("VMM USB Storage");
            assertThat(DescriptorParser.string(host.descriptor(Descriptors.STRING, 3, 255).data())).isEqualTo("0123456789AB");
            assertThat(device.productName()).isEqualTo("usb-storage");
        }
    }
}
