package dev.vmm.virtio.pci;

import dev.vmm.virtio.queue.SplitQueue.Ring;

import dev.vmm.memory.GuestMemory;
import dev.vmm.virtio.ActivationException;
import dev.vmm.virtio.VirtioDevice;
import dev.vmm.virtio.VirtioDeviceType;
import dev.vmm.virtio.VirtioFeatures;
import dev.vmm.virtio.VirtioInterrupt;
import dev.vmm.virtio.queue.SplitQueue;

import java.util.ArrayList;
import java.util.List;

/** A virtio device that records what the transport does to it. Two queues (256 and 64 entries), 8 config bytes. */
final class FakeVirtioDevice implements VirtioDevice {
    static final long FEATURE_A = 1L << 0;
    static final long FEATURE_B = 1L << 5;
    static final long FEATURES = VirtioFeatures.VIRTIO_F_VERSION_1 | VirtioFeatures.VIRTIO_F_EVENT_IDX
            | VirtioFeatures.VIRTIO_F_INDIRECT_DESC | FEATURE_A | FEATURE_B;

    /** What one activate call saw; queue state is copied because the transport may reset the objects later. */
    record Activated(long features, List<QueueState> queues, VirtioInterrupt interrupt) { }

    record QueueState(boolean ready, boolean activated, int size, long desc, long avail, long used, boolean eventIdx) {
        static QueueState of(SplitQueue q) {
            return new QueueState(q.isReady(), q.isActivated(), q.size(), q.address(Ring.DESC), q.address(Ring.DRIVER), q.address(Ring.DEVICE), q.eventIdx());
        }
    }

    final byte[] config = {1, 2, 3, 4, 5, 6, 7, 8};
    final List<Activated> activations = new ArrayList<>();
    final List<Integer> notifies = new ArrayList<>();
    int resets;
    String refuseActivation;
    VirtioInterrupt interrupt;
    /** Test hooks: run at the end of activate / the start of reset (e.g. start and join a device thread). */
    Runnable onActivate = () -> { };
    Runnable onReset = () -> { };

    @Override public VirtioDeviceType deviceType() { return VirtioDeviceType.NET; }

    @Override public long deviceFeatures() { return FEATURES; }

    @Override public int queueCount() { return 2; }

    @Override public int queueMaxSize(int queueIndex) { return queueIndex == 0 ? 256 : 64; }

    @Override public int configSize() { return config.length; }

    @Override
    public long readConfig(int offset, int size) {
        if (offset < 0 || offset + size > config.length) return 0;
        long v = 0;
        for (int i = 0; i < size; i++) v |= (config[offset + i] & 0xFFL) << (8 * i);
        return v;
    }

    @Override
    public void writeConfig(int offset, int size, long value) {
        if (offset < 0 || offset + size > config.length) return;
        for (int i = 0; i < size; i++) config[offset + i] = (byte) (value >>> (8 * i));
    }

    @Override
    public void activate(GuestMemory memory, long negotiatedFeatures, List<SplitQueue> queues, VirtioInterrupt interrupt)
            throws ActivationException {
        if (refuseActivation != null) throw new ActivationException(refuseActivation);
        activations.add(new Activated(negotiatedFeatures, queues.stream().map(QueueState::of).toList(), interrupt));
        this.interrupt = interrupt;
        onActivate.run();
    }

    @Override
    public void queueNotify(int queueIndex) {
        notifies.add(queueIndex);
    }

    @Override
    public void reset() {
        onReset.run();
        resets++;
        interrupt = null;
    }
}
