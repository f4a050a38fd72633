package dev.vmm.power;

import java.util.ArrayList;
import java.util.List;

/**
 * The device reset of an S3 wake, as QEMU's PC machine does it (its wakeup resets every device and
 * keeps guest RAM): an ordered list of named device resets. {@link #run} resets each; a device whose
 * reset fails is reported by name and the others are still reset, so one broken device cannot keep
 * the guest asleep.
 */
public final class WakeReset {
    private record Step(String name, Runnable reset) { }

    private final List<Step> steps = new ArrayList<>();

    /** Adds a device's reset. */
    public synchronized WakeReset add(String name, Runnable reset) {
        steps.add(new Step(name, reset));
        return this;
    }

    /** Resets every device in order; returns "name: problem" for each that failed (empty when all went well). */
    public List<String> run() {
        List<Step> now;
        synchronized (this) {
            now = List.copyOf(steps);
        }
        List<String> failed = new ArrayList<>();
        for (Step s : now) {
            try {
                s.reset.run();
            } catch (RuntimeException e) {
                failed.add(s.name + ": " + e.getMessage());
            }
        }
        return failed;
    }
}
