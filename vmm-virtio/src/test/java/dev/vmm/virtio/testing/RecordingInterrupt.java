package dev.vmm.virtio.testing;

import dev.vmm.virtio.VirtioInterrupt;

import java.util.ArrayList;
import java.util.List;

/** A {@link VirtioInterrupt} that records what a device signalled, for tests to assert on. */
public final class RecordingInterrupt implements VirtioInterrupt {
    /** Queue indexes of used-buffer notifications, in order. */
    public final List<Integer> used = new ArrayList<>();
    /** Reasons given with DEVICE_NEEDS_RESET, in order. */
    public final List<String> needsReset = new ArrayList<>();
    public int configChanges;

    @Override public synchronized void signalUsedBuffer(int queueIndex) { used.add(queueIndex); }

    @Override public synchronized void signalConfigChange() { configChanges++; }

    @Override public synchronized void deviceNeedsReset(String reason) { needsReset.add(reason); }
}
