package dev.vmm.virtio.transport;

import dev.vmm.memory.GuestMemory;
import dev.vmm.virtio.ActivationException;
import dev.vmm.virtio.DeviceStatus;
import dev.vmm.virtio.MigratableDevice;
import dev.vmm.virtio.VirtioDevice;
import dev.vmm.virtio.VirtioFeatures;
import dev.vmm.virtio.VirtioInterrupt;
import dev.vmm.virtio.queue.QueueError;
import dev.vmm.virtio.queue.QueueException;
import dev.vmm.virtio.queue.SplitQueue;
import dev.vmm.virtio.queue.SplitQueue.Ring;

import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The transport-independent half of a virtio transport (virtio 1.x §2 and the register semantics
 * §4.1.4.3 and §4.2.2 share): device status and feature negotiation (through {@link DeviceStatus}),
 * queue selection and configuration, config generation, and the device's life cycle — activate
 * the ready queues and the device on DRIVER_OK, reset on a status write of 0, DEVICE_NEEDS_RESET
 * with a configuration change interrupt when the driver or device breaks. A transport decodes its
 * own register layout (PCI common configuration structure, MMIO register block) into these calls
 * and supplies the {@link Signals} (PCI: MSI-X or INTx + ISR).
 *
 * <p><b>Guest input.</b> Queue registers are only writable between FEATURES_OK and DRIVER_OK, and
 * only for a queue that exists (a queue_select beyond num_queues reads 0 in every queue field).
 * A queue_size that is 0, not a power of two or above the maximum is refused: the register keeps
 * its value and the queue cannot go live (DRIVER_OK with it enabled sets DEVICE_NEEDS_RESET).
 *
 * <p><b>Locks.</b> The transport serialises register accesses and every call into the device with
 * its own lock, held around every method here except those marked thread-safe. The status byte
 * and the current activation have their own small lock, which device threads take through the
 * {@link VirtioInterrupt} of an activation and which is never held while calling the device.
 */
public final class VirtioCommonConfig {
    /** How the transport interrupts the driver, and what it resets of its own. */
    public interface Signals {
        /** Queue {@code queue} has new used buffers the driver wants to hear about. */
        void usedBuffer(int queue);

        /** A configuration change interrupt (device config changed, or DEVICE_NEEDS_RESET). */
        void configChange();

        /** Device reset: the transport's own registers (interrupt vectors, status bits) back to power-on. */
        void reset();
    }

    private final VirtioDevice device;
    private final GuestMemory memory;
    private final Signals signals;
    private final System.Logger log;
    /** Names the transport in log lines (its toString: e.g. the PCI address and device kind). */
    private final Object owner;
    private final int queueCount;

    /** Guards {@link #status} and {@link #activation}; never held while calling the device. */
    private final Object statusLock = new Object();
    private final DeviceStatus status;
    private Activation activation;

    private final SplitQueue[] queues;
    private final List<SplitQueue> queueList;
    /** A refused queue_size per queue (non-zero: that value, 0x10000 for 0), reported when the queue would go live. */
    private final int[] refusedSize;
    private int deviceFeatureSelect;
    private int driverFeatureSelect;
    private int queueSelect;
    private boolean deviceActive;
    private final AtomicInteger configGeneration = new AtomicInteger();

    public VirtioCommonConfig(VirtioDevice device, GuestMemory memory, Signals signals, System.Logger log, Object owner) {
        this.device = Objects.requireNonNull(device, "device");
        this.memory = Objects.requireNonNull(memory, "memory");
        this.signals = signals;
        this.log = log;
        this.owner = owner;
        this.queueCount = device.queueCount();
        if (queueCount < 0 || queueCount > 0xFFFF) throw new IllegalArgumentException("queue count " + queueCount);
        this.status = new DeviceStatus(device.deviceFeatures());
        this.queues = new SplitQueue[queueCount];
        for (int i = 0; i < queueCount; i++) queues[i] = new SplitQueue(device.queueMaxSize(i));
        this.queueList = List.of(queues);
        this.refusedSize = new int[queueCount];
    }

    public VirtioDevice device() { return device; }

    public int queueCount() { return queueCount; }

    public SplitQueue queue(int i) { return queues[i]; }

    public List<SplitQueue> queues() { return queueList; }

    // ---- feature negotiation --------------------------------------------------------------

    public int deviceFeatureSelect() { return deviceFeatureSelect; }

    public void setDeviceFeatureSelect(int v) { deviceFeatureSelect = v; }

    public int driverFeatureSelect() { return driverFeatureSelect; }

    public void setDriverFeatureSelect(int v) { driverFeatureSelect = v; }

    /** The 32 device feature bits the device-feature select names. */
    public int deviceFeatureWord() {
        synchronized (statusLock) {
            return status.deviceFeatureWord(deviceFeatureSelect);
        }
    }

    /** The 32 driver feature bits the driver-feature select names. */
    public int driverFeatureWord() {
        synchronized (statusLock) {
            return status.driverFeatureWord(driverFeatureSelect);
        }
    }

    public void writeDriverFeatureWord(int value) {
        synchronized (statusLock) {
            status.writeDriverFeatureWord(driverFeatureSelect, value);
        }
    }

    // ---- queue selection and configuration -------------------------------------------------

    public int queueSelect() { return queueSelect; }

    public void setQueueSelect(int v) { queueSelect = v & 0xFFFF; }

    /** The selected queue, or null when queue_select names none. */
    public SplitQueue selectedQueue() {
        return queueSelect < queueCount ? queues[queueSelect] : null;
    }

    /** The selected queue if its configuration may be written now (after FEATURES_OK, before DRIVER_OK), else null. */
    private SplitQueue writableQueue() {
        SplitQueue q = selectedQueue();
        boolean allowed;
        synchronized (statusLock) {
            allowed = status.queueSetupAllowed();
        }
        return q != null && allowed ? q : null;
    }

    public void writeQueueSize(int n) {
        SplitQueue q = writableQueue();
        if (q == null) return;
        n &= 0xFFFF;
        if (n == 0 || n > q.maxSize() || Integer.bitCount(n) != 1) {
            refusedSize[queueSelect] = n == 0 ? 0x1_0000 : n;
        } else {
            refusedSize[queueSelect] = 0;
            q.setSize(n);
        }
    }

    /** Only 1 means something: a driver may not disable a queue without a reset (§4.1.4.3.2). */
    public void writeQueueEnable(int v) {
        SplitQueue q = writableQueue();
        if (q != null && (v & 0xFFFF) == 1) q.setReady(true);
    }

    /** The selected queue's address of {@code ring} (0 when no queue is selected). */
    public long queueAddress(Ring ring) {
        SplitQueue q = selectedQueue();
        return q == null ? 0 : q.address(ring);
    }

    /**
     * Writes 32 bits of the selected queue's {@code ring} address ({@code high}: bits 63..32), or
     * all 64 with {@code bits64}.
     */
    public void writeQueueAddress(Ring ring, boolean bits64, boolean high, long raw) {
        SplitQueue q = writableQueue();
        if (q == null) return;
        long current = queueAddress(ring);
        long next;
        if (bits64) next = raw;
        else if (!high) next = (current & 0xFFFF_FFFF_0000_0000L) | (raw & 0xFFFF_FFFFL);
        else next = (current & 0xFFFF_FFFFL) | (raw << 32);
        q.setAddress(ring, next);
    }

    // ---- config generation -------------------------------------------------------------------

    /** Thread-safe. */
    public int configGeneration() { return configGeneration.get(); }

    // ---- status and life cycle ---------------------------------------------------------------

    /** The device status byte as the driver reads it. Thread-safe. */
    public int status() {
        synchronized (statusLock) {
            return status.status();
        }
    }

    /** Whether the device is live (DRIVER_OK succeeded and no reset since). */
    public boolean isActive() { return deviceActive; }

    /** A driver write of the device status byte: negotiation, DRIVER_OK (activation), 0 (reset). */
    public void writeStatus(int value) {
        DeviceStatus.Transition t;
        synchronized (statusLock) {
            t = status.writeStatus(value);
            if (t == DeviceStatus.Transition.RESET || t == DeviceStatus.Transition.FAILED) endActivation();
        }
        switch (t) {
            case RESET -> reset();
            case DRIVER_OK -> activate();
            case FAILED -> stopDevice();
            case FEATURES_REJECTED -> {
                String why;
                synchronized (statusLock) {
                    why = status.featureProblem();
                }
                log.log(System.Logger.Level.INFO, "{0}: FEATURES_OK refused: {1}", owner, why);
            }
            default -> { }
        }
    }

    /** Under statusLock: calls from the current activation's threads are dropped from now on. */
    private void endActivation() {
        if (activation != null) {
            activation.live = false;
            activation = null;
        }
    }

    private void activate() {
        long features;
        synchronized (statusLock) {
            features = status.negotiatedFeatures();
        }
        boolean eventIdx = VirtioFeatures.has(features, VirtioFeatures.VIRTIO_F_EVENT_IDX);
        try {
            for (int i = 0; i < queueCount; i++) {
                SplitQueue q = queues[i];
                if (!q.isReady()) continue;
                if (refusedSize[i] != 0) {
                    throw new QueueException(QueueError.INVALID_SIZE, "queue " + i + ": the driver wrote queue_size "
                            + (refusedSize[i] & 0xFFFF) + ", not a power of two in 1.." + q.maxSize());
                }
                q.setEventIdx(eventIdx);
                try {
                    q.activate(memory);
                } catch (QueueException e) {
                    throw new QueueException(e.error(), "queue " + i + ": " + e.getMessage());
                }
            }
            Activation a = new Activation();
            synchronized (statusLock) {
                activation = a;
            }
            device.activate(memory, features, queueList, a);
            deviceActive = true;
        } catch (QueueException | ActivationException e) {
            needsReset("activation failed: " + e.getMessage());
        } catch (RuntimeException e) {
            // A device bug must not take the VMM down with it; keep the stack for whoever fixes it.
            log.log(System.Logger.Level.ERROR, owner + ": device threw during activation", e);
            needsReset("activation failed: " + e);
        }
    }

    /** Device reset (status 0): back to power-on for everything but the transport's bus function. */
    private void reset() {
        stopDevice();
        for (int i = 0; i < queueCount; i++) {
            queues[i].reset();
            refusedSize[i] = 0;
        }
        deviceFeatureSelect = 0;
        driverFeatureSelect = 0;
        queueSelect = 0;
        signals.reset();
    }

    private void stopDevice() {
        try {
            device.reset();
        } catch (RuntimeException e) {
            log.log(System.Logger.Level.ERROR, owner + ": device threw during reset", e);
        }
        deviceActive = false;
    }

    /** An available-buffer notification: passed to the device if it is live and the queue activated. */
    public void queueNotify(int queue) {
        if (deviceActive && queues[queue].isActivated()) device.queueNotify(queue);
    }

    /** Sets DEVICE_NEEDS_RESET (once, with one log line) and sends a configuration change interrupt. */
    private void needsReset(String reason) {
        boolean first;
        boolean interrupt;
        synchronized (statusLock) {
            first = !status.needsReset();
            interrupt = status.setNeedsReset();
        }
        if (first) log.log(System.Logger.Level.WARNING, "{0}: device needs reset: {1}", owner, reason);
        if (interrupt) signals.configChange();
    }

    /**
     * What one activation of the device signals through. A device thread that outlives its
     * activation (a reset raced with it) finds {@code live} false and its calls are dropped.
     */
    private final class Activation implements VirtioInterrupt {
        volatile boolean live = true;

        @Override
        public void signalUsedBuffer(int queueIndex) {
            if (live && queueIndex >= 0 && queueIndex < queueCount) signals.usedBuffer(queueIndex);
        }

        @Override
        public void signalConfigChange() {
            if (live) {
                configGeneration.incrementAndGet();
                signals.configChange();
            }
        }

        @Override
        public void deviceNeedsReset(String reason) {
            boolean first;
            boolean interrupt;
            synchronized (statusLock) {
                if (!live) return;
                first = !status.needsReset();
                interrupt = status.setNeedsReset();
            }
            if (first) log.log(System.Logger.Level.WARNING, "{0}: device needs reset: {1}", owner, reason);
            if (interrupt) signals.configChange();
        }
    }

    // ---- saved state -------------------------------------------------------------------------

    /** Set by a save or load while the device waits for {@link #startAfterStateChange}. */
    private boolean pendingStart;

    /** Whether a save or load left the device waiting for {@link #startAfterStateChange}. */
    public boolean pendingStart() { return pendingStart; }

    /**
     * For a save (vCPUs paused): quiesces a live device — every request in flight completes, its
     * threads stop — and returns per queue how many popped chains it gave back (see
     * {@link MigratableDevice#quiesce}); all 0 when the device was not live.
     */
    public int[] quiesce(MigratableDevice md) {
        int[] rewind = new int[queueCount];
        if (deviceActive) {
            int[] r = md.quiesce();
            System.arraycopy(r, 0, rewind, 0, Math.min(r.length, queueCount));
            synchronized (statusLock) {
                endActivation();
            }
            deviceActive = false;
            pendingStart = true;
        }
        return rewind;
    }

    public long driverFeatures() {
        synchronized (statusLock) {
            return status.driverFeatures();
        }
    }

    public long offeredFeatures() {
        synchronized (statusLock) {
            return status.offeredFeatures();
        }
    }

    public int refusedSize(int queue) { return refusedSize[queue]; }

    /** Restores the registers of a saved state into this never-activated transport. */
    public void restore(int statusByte, long driverFeatures, int deviceFeatureSelect, int driverFeatureSelect,
                        int queueSelect, int configGeneration, boolean startPending) {
        synchronized (statusLock) {
            status.restore(statusByte, driverFeatures);
        }
        this.deviceFeatureSelect = deviceFeatureSelect;
        this.driverFeatureSelect = driverFeatureSelect;
        this.queueSelect = queueSelect;
        this.configGeneration.set(configGeneration);
        if (startPending) pendingStart = true;
    }

    /** Queue {@code i}'s saved configuration and ring positions; the queue is left unbound (activation binds it). */
    public void restoreQueue(int i, int size, long desc, long driver, long device, boolean ready, int refused,
                             int nextAvail, int nextUsed) {
        SplitQueue sq = queues[i];
        sq.reset();
        sq.setSize(size);
        sq.setRings(desc, driver, device);
        sq.setReady(ready);
        sq.setNextAvail(nextAvail);
        sq.setNextUsed(nextUsed);
        refusedSize[i] = refused;
    }

    /**
     * Starts the device again after a save (source continues) or a load (restored machine):
     * activates the ready queues at their positions and the device, and gives every queue one
     * notification so requests the driver queued meanwhile are seen. A device that was not live
     * is left as it is. Returns whether the device runs.
     */
    public boolean startAfterStateChange() {
        if (!pendingStart) return deviceActive;
        pendingStart = false;
        activate();
        if (deviceActive) {
            for (int i = 0; i < queueCount; i++) if (queues[i].isActivated()) device.queueNotify(i);
        }
        return deviceActive;
    }
}
