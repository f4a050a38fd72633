package dev.vmm.virtio.rng;

import dev.vmm.virtio.queue.SplitQueue;
import dev.vmm.virtio.queue.TestRings;
import dev.vmm.virtio.testing.ManualScheduler;
import dev.vmm.virtio.testing.RecordingInterrupt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** virtio-rng's part of a snapshot: a request held for tokens is given back, never lost. */
class VirtioRngStateTest {
    @TempDir Path tmp;

    @Test
    void quiesceGivesBackTheHeldRequestAndTheRestoredQueuePopsItAgain() throws Exception {
        Path source = tmp.resolve("entropy");
        Files.write(source, new byte[4096]);
        long[] now = {0};
        ManualScheduler timers = new ManualScheduler();
        try (TestRings rings = new TestRings(0x10000, 0x40000)) {
            TestRings.Driver driver = rings.queue(16);
            SplitQueue queue = driver.configure(new SplitQueue(VirtioRng.QUEUE_SIZE));
            queue.activate(rings.memory());
            RecordingInterrupt irq = new RecordingInterrupt();
            try (VirtioRng rng = new VirtioRng(source, new RateLimit(16, 1_000_000_000L), () -> now[0], timers)) {
                rng.activate(rings.memory(), rng.deviceFeatures(), List.of(queue), irq);
                long a = rings.alloc(16, 8), b = rings.alloc(16, 8);
                int h1 = driver.addWritable(a, 16);
                int h2 = driver.addWritable(b, 16);
                rng.queueNotify(0);
                assertThat(driver.pollUsed()).isEqualTo(new TestRings.Used(h1, 16));
                assertThat(driver.pollUsed()).isNull();            // the second waits for tokens
                assertThat(queue.nextAvail()).isEqualTo(2);

                int[] rewind = rng.quiesce();
                assertThat(rewind).containsExactly(1);
                byte[] state = rng.saveState();

                // The restored device: same queue config, next-available moved back by one.
                try (VirtioRng other = new VirtioRng(source, null, () -> now[0], timers)) {
                    other.loadState(rng.stateVersion(), state);
                    SplitQueue restored = driver.configure(new SplitQueue(VirtioRng.QUEUE_SIZE));
                    restored.setNextAvail(queue.nextAvail() - rewind[0]);
                    restored.setNextUsed(queue.nextUsed());
                    restored.activate(rings.memory());
                    other.activate(rings.memory(), other.deviceFeatures(), List.of(restored), irq);
                    other.queueNotify(0);
                    assertThat(driver.pollUsed()).isEqualTo(new TestRings.Used(h2, 16));
                    assertThatThrownBy(() -> other.loadState(2, state)).hasMessageContaining("virtio-rng");
                    assertThatThrownBy(() -> other.loadState(1, new byte[1])).hasMessageContaining("virtio-rng");
                }
            }
        }
    }
}
