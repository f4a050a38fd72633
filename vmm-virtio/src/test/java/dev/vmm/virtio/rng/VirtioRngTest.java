package dev.vmm.virtio.rng;

import dev.vmm.ratelimit.TokenBucket;
import dev.vmm.virtio.VirtioDeviceType;
import dev.vmm.virtio.VirtioFeatures;
import dev.vmm.virtio.queue.SplitQueue;
import dev.vmm.virtio.queue.TestRings;
import dev.vmm.virtio.testing.ManualScheduler;
import dev.vmm.virtio.testing.RecordingInterrupt;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class VirtioRngTest {
    static final long RAM = 0x10000;

    @TempDir Path tmp;
    TestRings rings;
    TestRings.Driver driver;
    SplitQueue queue;
    RecordingInterrupt irq = new RecordingInterrupt();
    long[] now = {0};
    ManualScheduler timers = new ManualScheduler();
    byte[] content;
    Path source;

    @BeforeEach
    void setUp() throws Exception {
        rings = new TestRings(RAM, 0x40000);
        driver = rings.queue(16);
        queue = driver.configure(new SplitQueue(VirtioRng.QUEUE_SIZE));
        queue.activate(rings.memory());
        content = new byte[8192];
        for (int i = 0; i < content.length; i++) content[i] = (byte) (i * 37 + (i >> 8));
        source = tmp.resolve("entropy");
        Files.write(source, content);
    }

    @AfterEach
    void tearDown() {
        assertThat(rings.guardsIntact()).isTrue();
        rings.close();
    }

    VirtioRng device(RateLimit rate) throws Exception {
        VirtioRng rng = new VirtioRng(source, rate, () -> now[0], timers);
        rng.activate(rings.memory(), rng.deviceFeatures(), List.of(queue), irq);
        return rng;
    }

    byte[] guest(long addr, int len) {
        byte[] b = new byte[len];
        rings.memory().read(addr, b, 0, len);
        return b;
    }

    @Test
    void identity() throws Exception {
        try (VirtioRng rng = device(null)) {
            assertThat(rng.deviceType()).isEqualTo(VirtioDeviceType.ENTROPY);
            assertThat(rng.queueCount()).isEqualTo(1);
            assertThat(rng.configSize()).isZero();
            assertThat(VirtioFeatures.has(rng.deviceFeatures(), VirtioFeatures.VIRTIO_F_VERSION_1)).isTrue();
        }
    }

    @Test
    void fillsBuffersWithTheSourceBytesInOrder() throws Exception {
        long a = rings.alloc(100, 8), b = rings.alloc(64, 8), c = rings.alloc(36, 8);
        try (VirtioRng rng = device(null)) {
            int h1 = driver.addWritable(a, 100);
            int h2 = driver.add(new long[] {b, c}, new int[] {64, 36}, new boolean[] {true, true});
            rng.queueNotify(0);

            assertThat(driver.pollUsed()).isEqualTo(new TestRings.Used(h1, 100));
            assertThat(driver.pollUsed()).isEqualTo(new TestRings.Used(h2, 100));
            assertThat(guest(a, 100)).isEqualTo(Arrays.copyOfRange(content, 0, 100));
            assertThat(guest(b, 64)).isEqualTo(Arrays.copyOfRange(content, 100, 164));
            assertThat(guest(c, 36)).isEqualTo(Arrays.copyOfRange(content, 164, 200));
            assertThat(irq.used).containsExactly(0);
            assertThat(rng.bytesServed()).isEqualTo(200);
        }
    }

    @Test
    void realUrandomGivesNonConstantBytes() throws Exception {
        source = Path.of("/dev/urandom");
        long a = rings.alloc(256, 8);
        try (VirtioRng rng = device(null)) {
            driver.addWritable(a, 256);
            rng.queueNotify(0);
            assertThat(driver.pollUsed().len()).isEqualTo(256);
            byte[] got = guest(a, 256);
            assertThat(got).isNotEqualTo(new byte[256]);
            long distinct = new String(got, java.nio.charset.StandardCharsets.ISO_8859_1).chars().distinct().count();
            assertThat(distinct).isGreaterThan(64);     // 256 random bytes: ~160 distinct values expected
        }
    }

    @Test
    void largeBufferIsCappedPerRequest() throws Exception {
        byte[] big = new byte[VirtioRng.MAX_REQUEST_BYTES + 4096];
        Files.write(source, big);
        long a = rings.alloc(big.length, 8);
        try (VirtioRng rng = device(null)) {
            driver.addWritable(a, big.length);
            rng.queueNotify(0);
            assertThat(driver.pollUsed().len()).isEqualTo(VirtioRng.MAX_REQUEST_BYTES);
        }
    }

    @Test
    void rateLimitHoldsRequestUntilTokensRefill() throws Exception {
        long a = rings.alloc(64, 8), b = rings.alloc(64, 8), c = rings.alloc(64, 8);
        // 100 bytes per second.
        try (VirtioRng rng = device(new RateLimit(100, 1_000_000_000L))) {
            int h1 = driver.addWritable(a, 64);
            int h2 = driver.addWritable(b, 64);
            int h3 = driver.addWritable(c, 64);
            rng.queueNotify(0);
            // 64 from the full bucket, then the 36 left, then nothing: the third is held.
            assertThat(driver.pollUsed()).isEqualTo(new TestRings.Used(h1, 64));
            assertThat(driver.pollUsed()).isEqualTo(new TestRings.Used(h2, 36));
            assertThat(driver.pollUsed()).isNull();
            assertThat(timers.tasks).hasSize(1);
            assertThat(timers.delays.get(0)).isEqualTo(640_000_000L);   // 64 tokens at 100/s

            rng.queueNotify(0);                                       // a kick meanwhile changes nothing
            assertThat(driver.pollUsed()).isNull();
            assertThat(timers.tasks).hasSize(1);

            now[0] = 320_000_000L;                                    // early: 32 tokens
            timers.runAll();
            assertThat(driver.pollUsed()).isEqualTo(new TestRings.Used(h3, 32));
            assertThat(guest(c, 32)).isEqualTo(Arrays.copyOfRange(content, 100, 132));
            assertThat(rng.bytesServed()).isEqualTo(132);
        }
    }

    @Test
    void heldRequestServedOnlyByTimerAfterRefill() throws Exception {
        long a = rings.alloc(16, 8), b = rings.alloc(16, 8);
        try (VirtioRng rng = device(new RateLimit(16, 1_000_000L))) {
            driver.addWritable(a, 16);
            int h2 = driver.addWritable(b, 16);
            rng.queueNotify(0);
            assertThat(driver.pollUsed().len()).isEqualTo(16);
            assertThat(driver.pollUsed()).isNull();
            now[0] = 5_000_000L;
            timers.runAll();
            assertThat(driver.pollUsed()).isEqualTo(new TestRings.Used(h2, 16));
            assertThat(irq.used).containsExactly(0, 0);
        }
    }

    @Test
    void readableDescriptorNeedsReset() throws Exception {
        long a = rings.alloc(16, 8), b = rings.alloc(16, 8);
        try (VirtioRng rng = device(null)) {
            driver.add(new long[] {a, b}, new int[] {16, 16}, new boolean[] {false, true});
            rng.queueNotify(0);
            assertThat(irq.needsReset).singleElement().asString().contains("device-readable");
            assertThat(driver.pollUsed()).isNull();
            driver.addWritable(b, 16);
            rng.queueNotify(0);                                       // stopped until reset
            assertThat(driver.pollUsed()).isNull();
            assertThat(irq.needsReset).hasSize(1);
        }
    }

    @Test
    void malformedRingNeedsResetWithoutThrowing() throws Exception {
        try (VirtioRng rng = device(null)) {
            driver.publishRaw(99);                                   // head outside a 16-entry queue
            rng.queueNotify(0);
            assertThat(irq.needsReset).singleElement().asString().contains("99");
        }
    }

    @Test
    void bufferOutsideRamNeedsReset() throws Exception {
        try (VirtioRng rng = device(null)) {
            driver.addWritable(0x7000_0000L, 16);
            rng.queueNotify(0);
            assertThat(irq.needsReset).hasSize(1);
        }
    }

    @Test
    void resetCancelsHeldWorkAndDeviceCanBeReactivated() throws Exception {
        long a = rings.alloc(16, 8);
        try (VirtioRng rng = device(new RateLimit(8, 1_000_000L))) {
            driver.addWritable(a, 16);
            driver.addWritable(a, 16);
            rng.queueNotify(0);
            assertThat(timers.tasks).hasSize(1);
            rng.reset();
            assertThat(timers.cancelled).isEqualTo(1);
            queue.reset();

            TestRings.Driver d2 = rings.queue(16);
            SplitQueue q2 = d2.configure(new SplitQueue(VirtioRng.QUEUE_SIZE));
            q2.activate(rings.memory());
            rng.activate(rings.memory(), rng.deviceFeatures(), List.of(q2), irq);
            now[0] = 10_000_000L;
            int h = d2.addWritable(a, 4);
            rng.queueNotify(0);
            assertThat(d2.pollUsed()).isEqualTo(new TestRings.Used(h, 4));
        }
    }

    @Test
    void endOfSourceCompletesWithWhatWasRead() throws Exception {
        Files.write(source, new byte[] {1, 2, 3});
        long a = rings.alloc(16, 8);
        try (VirtioRng rng = device(null)) {
            driver.addWritable(a, 16);
            rng.queueNotify(0);
            assertThat(driver.pollUsed().len()).isEqualTo(3);
            assertThat(guest(a, 3)).containsExactly(1, 2, 3);
        }
    }

    @Test
    void tokenBucketRefillsLinearlyUpToCapacity() {
        long[] t = {0};
        TokenBucket bucket = TokenBucket.ofBurst(1000, 1_000_000L, t[0]);
        assertThat(bucket.takeUpTo(600)).isEqualTo(600);
        assertThat(bucket.takeUpTo(600)).isEqualTo(400);
        assertThat(bucket.waitNanos(500)).isEqualTo(500_000L);
        t[0] = 250_000L;
        bucket.refill(t[0]);
        assertThat((long) Math.floor(bucket.level())).isEqualTo(250);
        t[0] = 10_000_000L;
        bucket.refill(t[0]);
        assertThat((long) Math.floor(bucket.level())).isEqualTo(1000);
    }

    @Test
    void parsesRateLimits() {
        assertThat(RateLimit.parse("64/2s")).isEqualTo(new RateLimit(64, 2_000_000_000L));
        assertThat(RateLimit.parse("64/20")).isEqualTo(new RateLimit(64, 20_000_000L));
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> RateLimit.parse("0/1s"))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
