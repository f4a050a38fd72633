package dev.vmm.migration;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Auto-converge end to end with the test double VM: a simulated guest that dirties memory twice as
 * fast as {@code max-bandwidth} lets the source send it. With the capability the source throttles
 * it (QEMU's default steps: 20%, then +10%) until what it dirties in a round fits the downtime
 * limit; without it, the migration goes round after round and never stops the VM.
 *
 * <p>The guest runs on the wire's clock, not the host's: at every dirty-log sync it has run for
 * (bytes sent since the last sync) / {@code max-bandwidth} seconds and dirtied
 * {@code DIRTY_RATE × (1 − throttle)} bytes per such second (whole pages of a 1.5 MiB working set).
 * So the figures do not depend on how loaded the host is.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class AutoConvergeTest extends FakeVmTest {
    private static final long BANDWIDTH = 8L << 20;           // max-bandwidth, bytes/s
    private static final double DIRTY_RATE = 2.0 * BANDWIDTH; // the unthrottled guest, bytes/s
    private static final int WORKING_SET_PAGES = 384;
    private static final long DOWNTIME_LIMIT_MS = 20;
    /** Rounds within which the throttled guest converges and the unthrottled one does not. */
    private static final int ROUNDS = 30;

    /** What the simulated guest saw at each sync: its throttle and query-migrate's cpu-throttle-percentage. */
    private record Sync(int throttle, Object reported, long dirtiedPages) { }

    /** Makes {@code vm} a guest dirtying {@link #DIRTY_RATE} × (1 − throttle) on the wire's clock. */
    private List<Sync> simulateGuest(AtomicReference<MigrationSource> source) {
        List<Sync> syncs = new CopyOnWriteArrayList<>();
        long[] lastTransferred = {0};
        long[] step = {0};
        vm.dirtyLog.onSync = () -> {
            MigrationSource s = source.get();
            if (vm.pauses.get() > 0 || s == null) return; // paused: the guest does not run
            Map<String, Object> query = s.stats().toMap();
            long transferred = s.stats().transferred();
            double seconds = (transferred - lastTransferred[0]) / (double) BANDWIDTH;
            lastTransferred[0] = transferred;
            int throttle = vm.throttlePercent();
            double bytes = DIRTY_RATE * (100 - throttle) / 100 * seconds;
            int pages = (int) Math.min(WORKING_SET_PAGES, Math.ceil(bytes / FakeVm.PAGE));
            step[0]++;
            for (int i = 0; i < pages; i++) vm.guestWrite(vm.workingSet[i] + 256, step[0]);
            syncs.add(new Sync(throttle, query.get("cpu-throttle-percentage"), pages));
        };
        return syncs;
    }

    /** A migration of the simulated guest under way, and what it saw. */
    private record Run(MigrationSource source, CompletableFuture<Throwable> destination, List<Sync> syncs,
                       List<MigrationStatus> statuses) { }

    private Run startMigration(boolean autoConverge) throws Exception {
        vm = new FakeVm(false, WORKING_SET_PAGES);
        target = new FakeVm.Target();
        AtomicReference<MigrationSource> ref = new AtomicReference<>();
        List<Sync> syncs = simulateGuest(ref);
        List<MigrationStatus> statuses = new CopyOnWriteArrayList<>();
        MigrationParameters params = new MigrationParameters().maxBandwidth(BANDWIDTH).downtimeLimitMs(DOWNTIME_LIMIT_MS);
        MigrationSource source = new MigrationSource(vm.memory, vm.dirtyLog, vm, params,
                new MigrationCapabilities().autoConverge(autoConverge)).onStatusChange(statuses::add);
        ref.set(source);
        return new Run(source, MigrationEngineTest.migrate(source, target, MigrationUri.parse("tcp:127.0.0.1:0")), syncs, statuses);
    }

    @Test
    void withAutoConvergeTheThrottledGuestConverges() throws Exception {
        Run run = startMigration(true);
        MigrationSource source = run.source();
        List<Sync> syncs = run.syncs();
        CompletableFuture<Throwable> dest = run.destination();
        assertThat(source.await(45, TimeUnit.SECONDS)).isTrue();
        assertThat(dest.get(10, TimeUnit.SECONDS)).isNull();
        assertThat(source.status()).as("%s", source.stats().toMap()).isEqualTo(MigrationStatus.COMPLETED);
        assertThat(run.statuses()).contains(MigrationStatus.DEVICE).endsWith(MigrationStatus.COMPLETED);
        assertThat(Arrays.equals(FakeVm.ramBytes(target.memory), vm.ramAtPause)).isTrue();

        long liveRounds = source.stats().dirtySyncCount() - 1; // the last sync is stop-and-copy's
        System.out.printf("auto-converge: %d live rounds, throttle %s, dirtied pages per round %s, downtime %d ms%n", liveRounds,
                vm.throttleCalls, syncs.stream().map(Sync::dirtiedPages).toList(), source.stats().downtimeMs());
        assertThat(liveRounds).as("rounds to converge").isLessThanOrEqualTo(ROUNDS);
        // QEMU's default steps, up to past 50% (below that the guest still dirties faster than the wire).
        assertThat(vm.throttleCalls).as("throttle steps").startsWith(20, 30, 40, 50).endsWith(0);
        assertThat(vm.throttleCalls.get(vm.throttleCalls.size() - 2)).isGreaterThan(50);
        // query-migrate showed the throttle in force at every sync of a throttled round, and none before.
        List<Sync> throttled = new ArrayList<>();
        for (Sync s : syncs) {
            if (s.throttle() > 0) throttled.add(s);
            else assertThat(s.reported()).as("cpu-throttle-percentage while not throttled").isNull();
        }
        assertThat(throttled).isNotEmpty().allSatisfy(s -> assertThat(s.reported()).isEqualTo(s.throttle()));
        // The throttle is what made the guest slow down: it dirtied the whole working set until then.
        assertThat(syncs.get(1).dirtiedPages()).isEqualTo(WORKING_SET_PAGES);
        assertThat(syncs.getLast().dirtiedPages()).isLessThan(WORKING_SET_PAGES);
        // Over: no throttle left, and query-migrate no longer shows one.
        assertThat(source.stats().toMap()).doesNotContainKey("cpu-throttle-percentage");
    }

    @Test
    void withoutAutoConvergeTheGuestNeverConverges() throws Exception {
        Run run = startMigration(false);
        MigrationSource source = run.source();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(40);
        while (source.stats().dirtySyncCount() < ROUNDS && !source.status().isFinal() && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(source.stats().dirtySyncCount()).as("rounds done").isGreaterThanOrEqualTo(ROUNDS);
        assertThat(source.status()).isEqualTo(MigrationStatus.ACTIVE);
        assertThat(run.statuses()).doesNotContain(MigrationStatus.DEVICE);
        assertThat(vm.pauses.get()).as("never stopped the VM").isZero();
        assertThat(vm.throttleCalls).isEmpty();
        assertThat(run.syncs()).allSatisfy(s -> assertThat(s.reported()).isNull());
        // Every round after the first found the whole working set dirty again. (A copy: the migration is
        // still running and adding syncs, and a CopyOnWriteArrayList's subList view throws when its list changes.)
        List<Sync> seen = List.copyOf(run.syncs());
        assertThat(seen.subList(1, seen.size())).allSatisfy(s -> assertThat(s.dirtiedPages()).isEqualTo(WORKING_SET_PAGES));
        assertThat(source.stats().expectedDowntimeMs()).isGreaterThan(DOWNTIME_LIMIT_MS);
        System.out.printf("no auto-converge: %d rounds, still active, expected downtime %d ms%n",
                source.stats().dirtySyncCount(), source.stats().expectedDowntimeMs());

        source.cancel();
        assertThat(source.await(10, TimeUnit.SECONDS)).isTrue();
        assertThat(source.status()).isEqualTo(MigrationStatus.CANCELLED);
        assertThat(run.destination().get(10, TimeUnit.SECONDS)).isInstanceOf(MigrationException.class);
        assertThat(target.started).isFalse();
    }
}
