package dev.vmm.virtio.scsi;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vmm.block.BlockDevice;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import dev.vmm.scsi.ScsiDisk;
import dev.vmm.scsi.ScsiTarget;
import dev.vmm.virtio.testing.FuzzRig;

import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;

import static dev.vmm.scsi.ScsiDisk.*;

/**
 * Jazzer target for virtio-scsi as a hostile guest drives it: command requests on the request queue
 * (LUN address, tag, task attribute, CDB — half the time a supported opcode, so that the CDB
 * parsers, transfer lengths, LBA ranges, UNMAP / WRITE SAME descriptors, mode pages and the sense
 * paths are reached — and data-out), and TMF / AN requests on the control queue, over the chain
 * shapes of {@link FuzzRig}. Two LUNs: 512-byte blocks, and 4096-byte blocks with UNMAP and a write
 * cache. Every chain must be answered or end in NEEDS_RESET; any exception or hang is a finding.
 * Without JAZZER_FUZZ the seeds under src/test/resources replay (CI).
 */
class VirtioScsiFuzzTest {
    private static final int[] OPCODES = {TEST_UNIT_READY, REQUEST_SENSE, READ_6, WRITE_6, INQUIRY, MODE_SENSE_6,
            START_STOP_UNIT, PREVENT_ALLOW_MEDIUM_REMOVAL, READ_CAPACITY_10, READ_10, WRITE_10, SYNCHRONIZE_CACHE_10,
            WRITE_SAME_10, UNMAP, MODE_SENSE_10, READ_16, WRITE_16, SYNCHRONIZE_CACHE_16, WRITE_SAME_16,
            SERVICE_ACTION_IN_16, REPORT_LUNS, READ_12, WRITE_12, 0x15 /* MODE SELECT(6) */, 0xA3 /* MAINTENANCE IN */};
    private static FuzzRig rig;

    @FuzzTest(maxDuration = "60s")
    void requests(FuzzedDataProvider data) throws Exception {
        if (rig == null) rig = newRig();
        for (int n = data.consumeInt(1, 4); n > 0 && data.remainingBytes() > 0; n--) {
            if (data.consumeInt(0, 7) == 7) { // rare values pick rare paths: see FuzzRig.roundTrip
                ByteBuffer c = ByteBuffer.allocate(data.consumeBoolean() ? 24 : data.consumeInt(0, 40)).order(ByteOrder.LITTLE_ENDIAN);
                if (c.capacity() >= 24) {
                    c.putInt(data.consumeInt(0, 3)).putInt(data.consumeInt(0, 9)).put(lun(data)).putLong(data.consumeLong());
                }
                rig.roundTrip(VirtioScsi.CONTROL_QUEUE, c.array(), data);
                continue;
            }
            byte[] cdb = new byte[ScsiHarness.CDB];
            byte[] raw = data.consumeBytes(data.consumeInt(0, cdb.length));
            System.arraycopy(raw, 0, cdb, 0, raw.length);
            if (data.consumeBoolean()) cdb[0] = (byte) data.pickValue(OPCODES);
            ByteBuffer h = ByteBuffer.allocate(ScsiHarness.REQ).order(ByteOrder.LITTLE_ENDIAN);
            h.put(lun(data)).putLong(data.consumeLong()).put(data.consumeByte()).put(data.consumeByte()).put(data.consumeByte()).put(cdb);
            byte[] header = h.array();
            if (data.consumeInt(0, 15) == 15) header = java.util.Arrays.copyOf(header, data.consumeInt(0, header.length)); // short
            byte[] out = data.consumeBytes(data.consumeInt(0, 8192));
            byte[] readable = new byte[header.length + out.length];
            System.arraycopy(header, 0, readable, 0, header.length);
            System.arraycopy(out, 0, readable, header.length, out.length);
            rig.roundTrip(VirtioScsi.FIRST_REQUEST_QUEUE, readable, data);
        }
    }

    /** The 8-byte LUN field: usually a well-formed address of LUN 0-2 (LUN 2 does not exist). */
    private static byte[] lun(FuzzedDataProvider data) {
        if (data.consumeBoolean()) return VirtioScsiLun.encode(data.consumeInt(0, 1), data.consumeInt(0, 2));
        return java.util.Arrays.copyOf(data.consumeBytes(8), 8);
    }

    private static FuzzRig newRig() throws Exception {
        Path dir = FuzzRig.scratchDir("scsi-fuzz");
        BlockDevice a = disk(dir.resolve("a.raw")), b = disk(dir.resolve("b.raw"));
        ScsiTarget target = new ScsiTarget(List.of(new ScsiDisk(a, Config.of("fz0")),
                new ScsiDisk(b, Config.of("fz1").withBlockSize(4096).withUnmap(true).withWriteCache(true))));
        return new FuzzRig(threads -> new VirtioScsi(target, ScsiConfig.of(1).withQueueSize(64), threads, msg -> { }),
                true, false, true);
    }

    private static BlockDevice disk(Path p) throws Exception {
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(1 << 20);
        }
        p.toFile().deleteOnExit();
        return Images.open(p, Images.Options.readWriteDefaults().withFormat(ImageFormat.RAW));
    }
}
