package dev.vmm.virtio;

/**
 * The device status byte and feature negotiation of one virtio device (virtio 1.x §2.1, §2.2,
 * §3.1.1), as a transport-independent state machine. The transport forwards the driver's writes of
 * the device status and driver feature registers here and acts on the returned {@link Transition}.
 *
 * <p>Rules enforced (an offending write is {@link Transition#IGNORED ignored} and leaves the state
 * unchanged, as Firecracker and Cloud Hypervisor do):
 * <ul>
 *   <li>writing 0 resets everything;</li>
 *   <li>the driver may only add bits, in order ACKNOWLEDGE → DRIVER → FEATURES_OK → DRIVER_OK
 *       (several in one write are taken in that order); it cannot clear a bit except by writing 0;</li>
 *   <li>FEATURES_OK is only set if the driver's features are a subset of the offered ones and
 *       contain VERSION_1; otherwise the bit stays clear ({@link Transition#FEATURES_REJECTED}) and
 *       the driver, re-reading status, sees the refusal;</li>
 *   <li>driver feature writes count only between DRIVER and FEATURES_OK;</li>
 *   <li>DEVICE_NEEDS_RESET is set by the device only ({@link #setNeedsReset()}); FAILED by the driver.</li>
 * </ul>
 *
 * <p>Not thread-safe: the transport guards it with the same lock as its registers.
 */
public final class DeviceStatus {
    public static final int ACKNOWLEDGE = 1;
    public static final int DRIVER = 2;
    public static final int DRIVER_OK = 4;
    public static final int FEATURES_OK = 8;
    public static final int DEVICE_NEEDS_RESET = 64;
    public static final int FAILED = 128;

    /** What a status write asks the transport to do. */
    public enum Transition {
        /** Nothing changed (bits already set, or only unknown bits written). */
        NONE,
        /** Status 0 was written: reset the device and every queue. */
        RESET,
        /** The write was not a legal step and was dropped. */
        IGNORED,
        /** ACKNOWLEDGE and/or DRIVER were set: nothing to do. */
        PROGRESSED,
        /** FEATURES_OK accepted: the negotiated features are fixed from now on. */
        FEATURES_ACCEPTED,
        /** FEATURES_OK refused: the driver asked for bits not offered, or lacks VERSION_1. */
        FEATURES_REJECTED,
        /** DRIVER_OK: activate the ready queues and the device. */
        DRIVER_OK,
        /** The driver set FAILED: it gave up on the device; stop it (reset is up to the driver). */
        FAILED,
    }

    private final long offeredFeatures;
    private int status;
    private long driverFeatures;
    /** The driver wrote a non-zero word above bit 63: it asked for features nobody can offer. */
    private boolean driverWroteUnknownFeatures;

    public DeviceStatus(long offeredFeatures) {
        if ((offeredFeatures & VirtioFeatures.VIRTIO_F_VERSION_1) == 0) {
            throw new IllegalArgumentException("a modern virtio device must offer VIRTIO_F_VERSION_1");
        }
        this.offeredFeatures = offeredFeatures;
    }

    /** The status byte as the driver reads it. */
    public int status() { return status; }

    public long offeredFeatures() { return offeredFeatures; }

    /** The features the driver has written so far (not yet accepted unless {@link #featuresOk()}). */
    public long driverFeatures() { return driverFeatures; }

    /** The features in force: the driver's, once FEATURES_OK is set; 0 before. */
    public long negotiatedFeatures() { return featuresOk() ? driverFeatures : 0; }

    public boolean featuresOk() { return (status & FEATURES_OK) != 0; }

    public boolean driverOk() { return (status & DRIVER_OK) != 0; }

    public boolean needsReset() { return (status & DEVICE_NEEDS_RESET) != 0; }

    public boolean failed() { return (status & FAILED) != 0; }

    /**
     * Whether the driver may set up queues now: after FEATURES_OK and before DRIVER_OK (§3.1.1).
     * Transports ignore queue register writes otherwise.
     */
    public boolean queueSetupAllowed() { return featuresOk() && !driverOk(); }

    /** 32 bits of the offered features: word 0 is bits 0..31, word 1 bits 32..63, others 0. */
    public int deviceFeatureWord(int select) {
        return switch (select) {
            case 0 -> (int) offeredFeatures;
            case 1 -> (int) (offeredFeatures >>> 32);
            default -> 0;
        };
    }

    /** 32 bits of the driver's features, for reading back the driver feature register. */
    public int driverFeatureWord(int select) {
        return switch (select) {
            case 0 -> (int) driverFeatures;
            case 1 -> (int) (driverFeatures >>> 32);
            default -> 0;
        };
    }

    /**
     * The driver wrote word {@code select} of its feature bits. Returns false (and changes nothing)
     * unless DRIVER is set and FEATURES_OK is not (§3.1.1 steps 4–5).
     */
    public boolean writeDriverFeatureWord(int select, int value) {
        if ((status & DRIVER) == 0 || featuresOk() || needsReset() || failed()) return false;
        switch (select) {
            case 0 -> driverFeatures = (driverFeatures & 0xFFFF_FFFF_0000_0000L) | Integer.toUnsignedLong(value);
            case 1 -> driverFeatures = (driverFeatures & 0x0000_0000_FFFF_FFFFL) | ((long) value << 32);
            default -> driverWroteUnknownFeatures |= value != 0;
        }
        return true;
    }

    /** The driver wrote the device status register. */
    public Transition writeStatus(int value) {
        value &= 0xFF;
        if (value == 0) {
            reset();
            return Transition.RESET;
        }
        // DEVICE_NEEDS_RESET belongs to the device; the driver echoing it back is not a request.
        int current = status & ~DEVICE_NEEDS_RESET;
        int requested = value & ~DEVICE_NEEDS_RESET;
        if ((requested & current) != current) return Transition.IGNORED; // clearing a bit without a reset
        int added = requested & ~current & (ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK | FAILED);
        if (added == 0) return Transition.NONE;
        if ((added & FAILED) != 0) {
            status |= FAILED;
            return Transition.FAILED;
        }
        if (failed() || needsReset()) return Transition.IGNORED; // only a reset gets out of these

        int next = current;
        Transition result = Transition.PROGRESSED;
        if ((added & ACKNOWLEDGE) != 0) next |= ACKNOWLEDGE;
        if ((added & DRIVER) != 0) {
            if ((next & ACKNOWLEDGE) == 0) return Transition.IGNORED;
            next |= DRIVER;
        }
        if ((added & FEATURES_OK) != 0) {
            if ((next & DRIVER) == 0) return Transition.IGNORED;
            if (!featuresAcceptable()) {
                // Keep the legal part of the write (e.g. DRIVER) but never FEATURES_OK or beyond.
                status = next | (status & DEVICE_NEEDS_RESET);
                return Transition.FEATURES_REJECTED;
            }
            next |= FEATURES_OK;
            result = Transition.FEATURES_ACCEPTED;
        }
        if ((added & DRIVER_OK) != 0) {
            if ((next & FEATURES_OK) == 0) return Transition.IGNORED;
            next |= DRIVER_OK;
            result = Transition.DRIVER_OK;
        }
        status = next | (status & DEVICE_NEEDS_RESET);
        return result;
    }

    /** Why the current driver features would be refused, or null if they are acceptable. */
    public String featureProblem() {
        long unoffered = driverFeatures & ~offeredFeatures;
        if (unoffered != 0) return "driver accepted features the device did not offer: " + VirtioFeatures.describe(unoffered);
        if (driverWroteUnknownFeatures) return "driver accepted feature bits above 63, which the device did not offer";
        if ((driverFeatures & VirtioFeatures.VIRTIO_F_VERSION_1) == 0) return "driver did not accept VIRTIO_F_VERSION_1";
        return null;
    }

    private boolean featuresAcceptable() {
        return featureProblem() == null;
    }

    /**
     * The device needs a reset (§2.1.2). Returns true if the bit was newly set and DRIVER_OK is
     * set, i.e. the transport must now send a configuration change notification.
     */
    public boolean setNeedsReset() {
        if (needsReset()) return false;
        status |= DEVICE_NEEDS_RESET;
        return driverOk();
    }

    /**
     * Puts back a saved status byte and driver features (snapshot restore). Refuses what a driver
     * could never have reached here: unknown bits, features not offered once FEATURES_OK is set,
     * DRIVER_OK without FEATURES_OK.
     */
    public void restore(int savedStatus, long savedDriverFeatures) {
        int known = ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK | DEVICE_NEEDS_RESET | FAILED;
        if ((savedStatus & ~known) != 0) throw new IllegalArgumentException("device status 0x" + Integer.toHexString(savedStatus) + " has unknown bits");
        if ((savedStatus & DRIVER_OK) != 0 && (savedStatus & FEATURES_OK) == 0) {
            throw new IllegalArgumentException("device status has DRIVER_OK without FEATURES_OK");
        }
        if ((savedStatus & FEATURES_OK) != 0 && (savedDriverFeatures & ~offeredFeatures) != 0) {
            throw new IllegalArgumentException("saved driver features " + VirtioFeatures.describe(savedDriverFeatures & ~offeredFeatures)
                    + " are not offered by this device");
        }
        status = savedStatus;
        driverFeatures = savedDriverFeatures;
        driverWroteUnknownFeatures = false;
    }

    /** Back to the state at power-on: status 0, no driver features. */
    public void reset() {
        status = 0;
        driverFeatures = 0;
        driverWroteUnknownFeatures = false;
    }
}
