package dev.vmm.usb.storage;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import dev.vmm.scsi.ScsiDisk;
import dev.vmm.scsi.ScsiTarget;
import dev.vmm.usb.UsbPacket;
import dev.vmm.usb.UsbSpeed;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.UnaryOperator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * usb-storage's saved state (snapshots, migration): a device saved in the middle of each BOT phase
 * and loaded into a new one continues the conversation as if nothing happened; a stream that breaks
 * any rule of the format is refused with an IOException and leaves the device as it was. The
 * stream is written here field by field ({@link Saved}) so that each rule is broken on its own;
 * {@link #savedStreamIsTheDocumentedLayout} proves the writer agrees with the device.
 */
@Timeout(60)
class UsbStorageStateTest {
    private static final int SIZE = 1 << 20;
    @TempDir
    Path dir;
    private final List<BlockDevice> disks = new ArrayList<>();
    private byte[] contents;

    /** Devices over one image, two LUNs, commands run on the caller's thread. */
    private BotHost host() throws IOException {
        Path image = dir.resolve("s.img");
        if (contents == null) {
            contents = new byte[SIZE];
            new Random(4).nextBytes(contents);
            Files.write(image, contents);
        }
        List<ScsiDisk> units = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            BlockDevice d = Images.open(image, new Images.Options(false, ImageFormat.RAW, false, false));
            disks.add(d);
            units.add(new ScsiDisk(d, ScsiDisk.Config.of("S" + i)));
        }
        BotHost h = new BotHost(new UsbStorage(new ScsiTarget(units), Runnable::run, UsbSpeed.SUPER, "0123456789AB"));
        h.enumerate(new byte[1][]);
        return h;
    }

    @AfterEach
    void close() throws IOException {
        for (BlockDevice d : disks) d.close();
    }

    private static byte[] save(BotHost h) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        ((UsbStorage) h.device).saveState(new DataOutputStream(b));
        return b.toByteArray();
    }

    private static void load(BotHost h, byte[] state) throws IOException {
        ((UsbStorage) h.device).loadState(new DataInputStream(new ByteArrayInputStream(state)), 1);
    }

    /** A copy of {@code from} in a new device (same image). */
    private BotHost moved(BotHost from) throws IOException {
        BotHost to = host();
        load(to, save(from));
        return to;
    }

    private static byte[] rw10(int op, long lba, int blocks) {
        return UsbStorageBotQemuOracleTest.rw10(op, lba, blocks);
    }

    @Test
    void midDataInTheNewDeviceSendsTheRestAndTheCsw() throws IOException {
        BotHost a = host();
        assertThat(a.bulk(2, false, BotHost.cbw(0x51, 2048, true, 0, rw10(0x28, 20, 4))).ok()).isTrue();
        assertThat(a.bulk(1, true, new byte[1024]).data()).isEqualTo(Arrays.copyOfRange(contents, 20 * 512, 22 * 512));
        BotHost b = moved(a);
        assertThat(b.bulk(1, true, new byte[1024]).data()).isEqualTo(Arrays.copyOfRange(contents, 22 * 512, 24 * 512));
        BotHost.Command csw = b.csw(new byte[0]);
        assertThat(List.of(csw.tag(), csw.status(), csw.residue())).containsExactly(0x51, 0, 0L);
        assertThat(((UsbStorage) b.device).commands()).isEqualTo(1);
    }

    @Test
    void midDataOutTheNewDeviceTakesTheRestAndWrites() throws IOException {
        BotHost a = host();
        byte[] data = new byte[2048];
        new Random(8).nextBytes(data);
        assertThat(a.bulk(2, false, BotHost.cbw(0x52, 2048, false, 1, rw10(0x2a, 60, 4))).ok()).isTrue();
        assertThat(a.bulk(2, false, Arrays.copyOf(data, 1024)).ok()).isTrue();
        BotHost b = moved(a);
        assertThat(b.bulk(2, false, Arrays.copyOfRange(data, 1024, 2048)).ok()).isTrue();
        BotHost.Command csw = b.csw(new byte[0]);
        assertThat(List.of(csw.tag(), csw.status(), csw.residue())).containsExactly(0x52, 0, 0L);
        assertThat(b.command(0x53, rw10(0x28, 60, 4), 2048, null).dataIn()).isEqualTo(data);
    }

    @Test
    void beforeTheCswWithKeptSenseTheNewDeviceAnswersBoth() throws IOException {
        BotHost a = host();
        assertThat(a.command(1, rw10(0x28, SIZE / 512, 1), 512, null).status()).isEqualTo(CommandStatusWrapper.FAILED);
        assertThat(a.bulk(2, false, BotHost.cbw(0x54, 64, true, 0, new byte[] {0x12, 0, 0, 0, 36, 0})).ok()).isTrue();
        assertThat(a.bulk(1, true, new byte[64]).data()).hasSize(36);
        BotHost b = moved(a);
        BotHost.Command csw = b.csw(new byte[0]);
        assertThat(List.of(csw.tag(), csw.status(), csw.residue())).containsExactly(0x54, 0, 28L);
        // The failed READ's sense was kept across the move (REQUEST SENSE after INQUIRY: BOT has no autosense).
        assertThat(b.command(0x55, new byte[] {0x03, 0, 0, 0, 18, 0}, 18, null).dataIn()[12] & 0xff).isEqualTo(0x21);
        assertThat(((UsbStorage) b.device).commands()).isEqualTo(3);
    }

    @Test
    void needingResetRecoveryStaysSoAcrossTheMove() throws IOException {
        BotHost a = host();
        assertThat(a.bulk(2, false, new byte[31]).status()).isEqualTo(UsbPacket.Status.STALL);
        BotHost b = moved(a);
        assertThat(b.bulk(1, true, new byte[13]).status()).isEqualTo(UsbPacket.Status.STALL);
        assertThat(b.control(0x02, 1, 0, 0x81, 0).ok()).isTrue();
        assertThat(b.control(0x02, 1, 0, 0x02, 0).ok()).isTrue();
        assertThat(b.bulk(2, false, BotHost.cbw(1, 0, false, 0, new byte[6])).status()).isEqualTo(UsbPacket.Status.STALL);
        b.resetRecovery();
        assertThat(b.command(2, new byte[6], 0, null).status()).isZero();
    }

    // ---- the stream, field by field -----------------------------------------------------------

    /** The function's part of the stream (after StandardUsbDevice's seven bytes). */
    record Saved(int phase, boolean hasCbw, int tag, int length, boolean in, int lun, byte[] cdb, byte[] out, long outReceived,
                 byte[] inBuf, int inLength, int inSent, int csw, long residue, int luns, byte[][] sense, long commands) {
        /** DATA_IN of a READ(10) of 4 blocks with 1024 of 2048 bytes sent, sense kept on LUN 1. */
        static Saved dataIn() {
            byte[] in = new byte[2048];
            for (int i = 0; i < in.length; i++) in[i] = (byte) i;
            return new Saved(3, true, 0x51, 2048, true, 0, rw10(0x28, 20, 4), null, 0, in, 2048, 1024, 0, 0, 2,
                    new byte[][] {null, new byte[18]}, 5);
        }

        byte[] bytes(byte[] standard) throws IOException {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            DataOutputStream o = new DataOutputStream(b);
            o.write(standard);
            o.writeByte(phase);
            o.writeBoolean(hasCbw);
            if (hasCbw) {
                o.writeInt(tag);
                o.writeInt(length);
                o.writeBoolean(in);
                o.writeByte(lun);
                o.writeByte(cdb.length);
                o.write(cdb);
            }
            buffer(o, out);
            o.writeLong(outReceived);
            buffer(o, inBuf);
            o.writeInt(inLength);
            o.writeInt(inSent);
            o.writeByte(csw);
            o.writeLong(residue);
            o.writeByte(luns);
            for (byte[] s : sense) buffer(o, s);
            o.writeLong(commands);
            return b.toByteArray();
        }

        private static void buffer(DataOutputStream o, byte[] b) throws IOException {
            o.writeInt(b == null ? -1 : b.length);
            if (b != null) o.write(b);
        }

        Saved with(UnaryOperator<Object[]> change) {
            Object[] f = {phase, hasCbw, tag, length, in, lun, cdb, out, outReceived, inBuf, inLength, inSent, csw, residue, luns, sense, commands};
            f = change.apply(f);
            return new Saved((int) f[0], (boolean) f[1], (int) f[2], (int) f[3], (boolean) f[4], (int) f[5], (byte[]) f[6], (byte[]) f[7],
                    (long) f[8], (byte[]) f[9], (int) f[10], (int) f[11], (int) f[12], (long) f[13], (int) f[14], (byte[][]) f[15], (long) f[16]);
        }

        Saved set(int field, Object value) {
            return with(f -> {
                f[field] = value;
                return f;
            });
        }
    }

    private static final int PHASE = 0, HAS_CBW = 1, LUN = 5, CDB = 6, OUT = 7, OUT_RECEIVED = 8, IN_BUF = 9, IN_LENGTH = 10,
            IN_SENT = 11, CSW = 12, RESIDUE = 13, LUNS = 14, SENSE = 15, COMMANDS = 16;

    /** The standard part of a configured device at address 4 with no halts: state, address, remote wake-up, halts. */
    private static final byte[] CONFIGURED = {2, 4, 0, 0, 0, 0, 0};

    @Test
    void savedStreamIsTheDocumentedLayout() throws IOException {
        BotHost a = host();
        assertThat(a.bulk(2, false, BotHost.cbw(0x51, 2048, true, 0, rw10(0x28, 20, 4))).ok()).isTrue();
        assertThat(a.bulk(1, true, new byte[1024]).ok()).isTrue();
        Saved expected = Saved.dataIn().set(IN_BUF, Arrays.copyOfRange(contents, 20 * 512, 24 * 512))
                .set(SENSE, new byte[][] {null, null}).set(COMMANDS, 1L).set(RESIDUE, 2048L); // the residue until the data stage ends: all of it
        assertThat(save(a)).isEqualTo(expected.bytes(CONFIGURED));
        // And what a device loads, it saves unchanged (every field, the kept sense included).
        for (Saved s : List.of(Saved.dataIn(), Saved.dataIn().set(CSW, 1).set(RESIDUE, 77L).set(LUN, 1),
                Saved.dataIn().set(SENSE, new byte[][] {new byte[0], null}))) { // an empty buffer stays empty, not absent
            BotHost b = host();
            load(b, s.bytes(CONFIGURED));
            assertThat(save(b)).isEqualTo(s.bytes(CONFIGURED));
        }
    }

    @Test
    void aWrittenStreamLoadsAndTheDeviceContinuesFromIt() throws IOException {
        BotHost b = host();
        load(b, Saved.dataIn().bytes(CONFIGURED));
        assertThat(b.bulk(1, true, new byte[1024]).data()).isEqualTo(Arrays.copyOfRange(Saved.dataIn().inBuf(), 1024, 2048));
        BotHost.Command csw = b.csw(new byte[0]);
        assertThat(List.of(csw.tag(), csw.status(), csw.residue())).containsExactly(0x51, 0, 0L);
        assertThat(((UsbStorage) b.device).commands()).isEqualTo(5);
        // LUN 1's kept sense (18 zero bytes) is answered by its next REQUEST SENSE as it was saved.
        assertThat(b.bulk(2, false, BotHost.cbw(2, 18, true, 1, new byte[] {0x03, 0, 0, 0, 18, 0})).ok()).isTrue();
        assertThat(b.bulk(1, true, new byte[18]).data()).containsOnly(0);
    }

    @Test
    void everyBrokenRuleIsRefusedAndTheDeviceKeepsItsState() throws IOException {
        Saved good = Saved.dataIn();
        byte[] dataOut = new byte[2048];
        Saved goodOut = good.with(f -> {
            f[PHASE] = 1;
            f[4] = false;
            f[OUT] = dataOut;
            f[OUT_RECEIVED] = 1024L;
            f[IN_BUF] = null;
            f[IN_LENGTH] = 0;
            f[IN_SENT] = 0;
            return f;
        });
        Saved status = good.with(f -> {
            f[PHASE] = 4;
            f[IN_BUF] = null;
            return f;
        });
        Saved command = status.with(f -> {
            f[PHASE] = 0;
            f[HAS_CBW] = false;
            return f;
        });
        List<Saved> valid = List.of(good, goodOut, status, command, command.set(PHASE, 5),
                good.set(IN_SENT, 2048).set(IN_LENGTH, 2048), good.set(IN_SENT, 0).set(IN_LENGTH, 0), good.set(LUN, 1),
                good.set(CDB, new byte[16]), good.set(CDB, new byte[1]), good.set(CSW, 2), good.set(RESIDUE, 0xffffffffL),
                good.set(SENSE, new byte[][] {new byte[252], new byte[0]}), goodOut.set(OUT_RECEIVED, 2047L), goodOut.set(OUT_RECEIVED, 0L),
                good.set(COMMANDS, Long.MAX_VALUE), good.set(IN_BUF, new byte[512]).set(IN_LENGTH, 512).set(IN_SENT, 512));
        for (Saved s : valid) {
            BotHost b = host();
            load(b, s.bytes(CONFIGURED));
        }
        List<Saved> broken = List.of(
                good.set(PHASE, 2), // EXECUTING: never saved
                good.set(PHASE, 6), good.set(PHASE, 255),
                good.set(LUN, 2), good.set(LUN, 255),
                good.set(CDB, new byte[0]), good.set(CDB, new byte[17]),
                command.set(PHASE, 3), command.set(PHASE, 1), command.set(PHASE, 4), // a phase that needs a CBW without one
                good.set(PHASE, 0), good.set(PHASE, 5), // a CBW where none belongs
                good.set(IN_BUF, null), // DATA_IN without its buffer
                good.set(OUT, new byte[2048]).set(OUT_RECEIVED, 0L), // DATA_IN with a data-out buffer
                status.set(IN_BUF, new byte[4]).set(IN_LENGTH, 0), // a data-in buffer outside DATA_IN
                goodOut.set(OUT, null), // DATA_OUT without its buffer
                goodOut.set(OUT, new byte[2047]), goodOut.set(OUT, new byte[2049]), // not the CBW's length
                goodOut.set(OUT_RECEIVED, 2048L), goodOut.set(OUT_RECEIVED, -1L), goodOut.set(OUT_RECEIVED, 0x1_0000_0000L),
                good.set(IN_LENGTH, -1).set(IN_SENT, 0), good.set(IN_LENGTH, 2049), good.set(IN_SENT, -1), good.set(IN_SENT, 2049),
                good.set(IN_LENGTH, 1000).set(IN_SENT, 1001),
                good.set(IN_BUF, new byte[4096]).set(IN_LENGTH, 4096).set(IN_SENT, 0), // more than the CBW's length
                good.set(CSW, 3), good.set(RESIDUE, -1L), good.set(RESIDUE, 0x1_0000_0000L),
                good.set(LUNS, 1).set(SENSE, new byte[][] {null}), good.set(LUNS, 3).set(SENSE, new byte[][] {null, null, null}),
                good.set(SENSE, new byte[][] {new byte[253], null}), good.set(COMMANDS, -1L));
        BotHost b = host();
        assertThat(b.command(1, new byte[6], 0, null).status()).isZero();
        int i = 0;
        for (Saved s : broken) {
            byte[] bytes = s.bytes(CONFIGURED);
            assertThatThrownBy(() -> load(b, bytes)).as("broken stream %d", i++).isInstanceOf(IOException.class);
        }
        assertThatThrownBy(() -> load(b, command.set(PHASE, 3).bytes(CONFIGURED))).hasMessageContaining("phase DATA_IN without a CBW");
        assertThatThrownBy(() -> load(b, good.set(PHASE, 0).bytes(CONFIGURED))).hasMessageContaining("phase COMMAND with a CBW");
        // A buffer length beyond the largest transfer, a stream that ends inside a buffer.
        byte[] huge = good.set(OUT, new byte[0]).bytes(CONFIGURED);
        int outLengthAt = 7 + 2 + 11 + 10;
        huge[outLengthAt] = 0x7f;
        assertThatThrownBy(() -> load(b, huge)).isInstanceOf(IOException.class).hasMessageContaining("buffer length");
        byte[] cut = good.bytes(CONFIGURED);
        byte[] truncated = Arrays.copyOf(cut, 7 + 2 + 11 + 10 + 4 + 8 + 4 + 100);
        assertThatThrownBy(() -> load(b, truncated)).isInstanceOf(IOException.class).hasMessageContaining("inside a buffer");
        // Nothing of it was applied: the device still expects a CBW, its count is 1.
        assertThat(b.command(2, new byte[6], 0, null).tag()).isEqualTo(2);
        assertThat(((UsbStorage) b.device).commands()).isEqualTo(2);
    }
}
