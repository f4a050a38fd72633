package dev.vmm.virtio.blk;

/**
 * Options of one virtio-blk device (the backend carries path, format, read-only and cache mode).
 *
 * @param numQueues  request queues (VIRTIO_BLK_F_MQ when more than one); normally one per vCPU
 * @param queueSize  maximum size of each queue (power of two, ≤ 32768)
 * @param segMax     data segments per request the driver may use (seg_max); ≤ 1024 (IOV_MAX)
 * @param serial     GET_ID answer (≤ 20 bytes), or null for the backend's default
 * @param discard    offer DISCARD and let WRITE_ZEROES unmap ({@code discard=unmap}); false = {@code discard=ignore}
 * @param writeZeroes offer WRITE_ZEROES
 * @param throttle   I/O limits shared by the queues, or null
 */
public record BlkConfig(int numQueues, int queueSize, int segMax, String serial, boolean discard,
                        boolean writeZeroes, ThrottleGroup throttle) {
    /** Largest number of sectors in one discard / write-zeroes segment (2 GiB − 512). */
    public static final int MAX_DISCARD_SECTORS = 0x3F_FFFF;
    /** Segments in one discard / write-zeroes request. */
    public static final int MAX_DISCARD_SEGMENTS = 16;

    public BlkConfig {
        if (numQueues < 1 || numQueues > 1024) throw new IllegalArgumentException("virtio-blk queues " + numQueues + " not in 1..1024");
        if (queueSize < 2 || queueSize > 32768 || Integer.bitCount(queueSize) != 1) {
            throw new IllegalArgumentException("virtio-blk queue size " + queueSize + " is not a power of two in 2..32768");
        }
        if (segMax < 1 || segMax > 1024) throw new IllegalArgumentException("virtio-blk seg_max " + segMax + " not in 1..1024");
        if (serial != null && serial.getBytes(java.nio.charset.StandardCharsets.US_ASCII).length > 20) {
            throw new IllegalArgumentException("virtio-blk serial '" + serial + "' is longer than 20 bytes");
        }
    }

    /** {@code numQueues} queues of 256 entries, seg_max 254, discard on, no throttling. */
    public static BlkConfig of(int numQueues) {
        return new BlkConfig(numQueues, 256, 254, null, true, true, null);
    }

    public BlkConfig withQueueSize(int size) {
        return new BlkConfig(numQueues, size, Math.min(segMax, Math.max(1, size - 2)), serial, discard, writeZeroes, throttle);
    }

    public BlkConfig withSerial(String s) {
        return new BlkConfig(numQueues, queueSize, segMax, s, discard, writeZeroes, throttle);
    }

    public BlkConfig withDiscard(boolean d) {
        return new BlkConfig(numQueues, queueSize, segMax, serial, d, writeZeroes, throttle);
    }

    public BlkConfig withWriteZeroes(boolean w) {
        return new BlkConfig(numQueues, queueSize, segMax, serial, discard, w, throttle);
    }

    public BlkConfig withThrottle(ThrottleGroup t) {
        return new BlkConfig(numQueues, queueSize, segMax, serial, discard, writeZeroes, t);
    }

    public BlkConfig withSegMax(int s) {
        return new BlkConfig(numQueues, queueSize, s, serial, discard, writeZeroes, throttle);
    }
}
