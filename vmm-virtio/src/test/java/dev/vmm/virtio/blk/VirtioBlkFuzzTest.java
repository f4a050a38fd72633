package dev.vmm.virtio.blk;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vmm.virtio.testing.FuzzRig;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static dev.vmm.virtio.blk.VirtioBlk.*;

/**
 * Jazzer target for virtio-blk requests as a hostile guest writes them: the request header (type,
 * sector), data-out (payloads, discard / write-zeroes segments) and the chain's shape (see
 * {@link FuzzRig}) on a 4 MiB RAM disk. Every chain must be answered (used, with a used length
 * within its writable bytes) or end in NEEDS_RESET, after which the device works again; any
 * exception, hang or write outside RAM is a finding. Without JAZZER_FUZZ the seeds under
 * src/test/resources replay (CI); {@code JAZZER_FUZZ=1} fuzzes (benchmarks/fuzz/run.sh).
 */
class VirtioBlkFuzzTest {
    private static final int[] TYPES = {VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID,
            VIRTIO_BLK_T_GET_LIFETIME, VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES, VIRTIO_BLK_T_SECURE_ERASE};
    private static final long DISK_SECTORS = (4 << 20) / SECTOR_SIZE;
    private static FuzzRig rig;

    @FuzzTest(maxDuration = "60s")
    void requests(FuzzedDataProvider data) throws Exception {
        if (rig == null) {
            SyncBackendAdapterTest.RamDisk disk = new SyncBackendAdapterTest.RamDisk();
            rig = new FuzzRig(threads -> new VirtioBlk(new SyncBackendAdapter(disk, 1, "fuzz"),
                    BlkConfig.of(1).withDiscard(true).withWriteZeroes(true), threads, msg -> { }), true);
        }
        for (int n = data.consumeInt(1, 4); n > 0 && data.remainingBytes() > 0; n--) {
            int type = data.consumeBoolean() ? data.pickValue(TYPES) : data.consumeInt();
            long sector = data.consumeBoolean() ? data.consumeLong(0, DISK_SECTORS + 8) : data.consumeLong();
            ByteBuffer h = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putInt(type).putInt(data.consumeInt()).putLong(sector);
            byte[] payload;
            if ((type == VIRTIO_BLK_T_DISCARD || type == VIRTIO_BLK_T_WRITE_ZEROES) && data.consumeBoolean()) {
                int segs = data.consumeInt(0, 20);
                ByteBuffer s = ByteBuffer.allocate(16 * segs).order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < segs; i++) {
                    s.putLong(data.consumeBoolean() ? data.consumeLong(0, DISK_SECTORS) : data.consumeLong());
                    s.putInt(data.consumeBoolean() ? data.consumeInt(0, 4096) : data.consumeInt());
                    s.putInt(data.consumeInt(0, 3));
                }
                payload = s.array();
            } else {
                payload = data.consumeBytes(data.consumeInt(0, 8192));
            }
            byte[] readable = new byte[16 + payload.length];
            System.arraycopy(h.array(), 0, readable, 0, 16);
            System.arraycopy(payload, 0, readable, 16, payload.length);
            rig.roundTrip(0, readable, data);
        }
    }
}
