package dev.vmm.threads;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadFactory;

import static org.assertj.core.api.Assertions.assertThat;

class VmmThreadsTest {
    @AfterEach
    void clear() {
        for (ThreadKind k : ThreadKind.values()) VmmThreads.clearOnStart(k);
    }

    @Test
    void everyThreadIsANamedPlatformThreadOfItsKind() throws Exception {
        Thread t = VmmThreads.start(ThreadKind.IO, "io-7", () -> { });
        t.join();
        assertThat(t.getName()).isEqualTo("io-7");
        assertThat(t.isVirtual()).isFalse();
        assertThat(t.isDaemon()).isTrue();
        assertThat(VmmThreads.kindOf(t)).isEqualTo(ThreadKind.IO);
        assertThat(VmmThreads.kindOf(Thread.currentThread())).isNull();
        Thread m = VmmThreads.startNonDaemon(ThreadKind.MIGRATION, "migration", () -> { });
        m.join();
        assertThat(m.isDaemon()).isFalse();
    }

    @Test
    void theInitializerOfItsKindRunsOnTheThreadBeforeItsWork() throws Exception {
        List<String> seen = new CopyOnWriteArrayList<>();
        VmmThreads.onStart(ThreadKind.VCPU, k -> seen.add("init " + k + " on " + Thread.currentThread().getName()));
        Thread t = VmmThreads.start(ThreadKind.VCPU, "vcpu-0", () -> seen.add("work on " + Thread.currentThread().getName()));
        t.join();
        Thread other = VmmThreads.start(ThreadKind.CONTROL, "qmp-accept", () -> seen.add("work on qmp-accept"));
        other.join();
        assertThat(seen).containsExactly("init VCPU on vcpu-0", "work on vcpu-0", "work on qmp-accept");
    }

    @Test
    void factoriesNumberTheirThreads() throws Exception {
        ThreadFactory f = VmmThreads.factory(ThreadKind.BLOCK_WORKER, "test-worker-");
        Thread a = f.newThread(() -> { }), b = f.newThread(() -> { });
        Thread c = VmmThreads.factory(ThreadKind.BLOCK_WORKER, "test-worker-").newThread(() -> { });
        assertThat(List.of(a.getName(), b.getName(), c.getName())).containsExactly("test-worker-1", "test-worker-2", "test-worker-3");
        assertThat(VmmThreads.kindOf(b)).isEqualTo(ThreadKind.BLOCK_WORKER);
    }
}
