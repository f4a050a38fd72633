package dev.vmm.timer;

import dev.vmm.chipset.bus.BusDevice;
import dev.vmm.chipset.timer.Hpet;
import dev.vmm.threads.ThreadKind;
import dev.vmm.threads.VmmThreads;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The HPET's host timer thread against a controllable clock and a fake interrupt sink: the guest
 * programs the model through the bus view, the test moves the clock, the thread delivers.
 */
@Timeout(30)
class HpetTimerTest {
    final AtomicLong now = new AtomicLong(1_000_000_000L);
    final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    final Hpet hpet = new Hpet(now::get, pin -> level -> lines.add(pin + (level ? "+" : "-")));

    static void timer(BusDevice r, int n, long config, long comparator) {
        r.write(Hpet.TIMER0 + 0x20L * n, 8, config);
        r.write(Hpet.TIMER0 + 0x20L * n + 8, 8, comparator);
    }

    String next() throws InterruptedException {
        String s = lines.poll(10, TimeUnit.SECONDS);
        assertNotNull(s, "no interrupt within 10 s");
        return s;
    }

    void advance(long nanos, HpetTimer t) {
        now.addAndGet(nanos);
        t.kick();
    }

    @Test
    void legacyReplacementPeriodicTimer0PulsesGsi2EveryPeriod() throws Exception {
        try (HpetTimer t = new HpetTimer(hpet, now::get)) {
            BusDevice r = t.registers();
            timer(r, 0, Hpet.TN_ENABLE | Hpet.TN_PERIODIC | Hpet.TN_VAL_SET, 100_000);   // 1 ms at 100 MHz
            r.write(Hpet.CONFIG, 8, Hpet.CFG_ENABLE | Hpet.CFG_LEGACY);
            for (int i = 0; i < 3; i++) {
                advance(1_000_000, t);
                assertEquals("2+", next());
                assertEquals("2-", next());
            }
            // ten periods missed at once: one interrupt, not ten
            advance(10_000_000, t);
            assertEquals("2+", next());
            assertEquals("2-", next());
            assertNull(lines.poll(200, TimeUnit.MILLISECONDS), "missed periods collapse");
        }
    }

    @Test
    void aRegisterWriteWakesTheThreadForAnEarlierDeadline() throws Exception {
        try (HpetTimer t = new HpetTimer(hpet, now::get)) {
            BusDevice r = t.registers();
            r.write(Hpet.CONFIG, 8, Hpet.CFG_ENABLE | Hpet.CFG_LEGACY);
            timer(r, 1, Hpet.TN_ENABLE, 3_600L * 100_000_000L);                  // one-shot in an hour: the thread sleeps
            long start = System.nanoTime();
            timer(r, 1, Hpet.TN_ENABLE, hpet.counter() + 50);                       // now in 500 ns
            now.addAndGet(1_000);                                                   // the guest's time passes; no kick from the test
            r.read(Hpet.COUNTER, 8);                                                // (a read polls the model too)
            String first = next();
            assertEquals("8+", first, "legacy route of timer 1: GSI 8");
            assertEquals("8-", next());
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(10));
        }
    }

    @Test
    void levelTriggeredTimerHoldsItsRoutedLineUntilTheGuestClearsStatus() throws Exception {
        try (HpetTimer t = new HpetTimer(hpet, now::get)) {
            BusDevice r = t.registers();
            r.write(Hpet.CONFIG, 8, Hpet.CFG_ENABLE);
            timer(r, 2, Hpet.TN_ENABLE | Hpet.TN_LEVEL | (20L << Hpet.TN_ROUTE_SHIFT), hpet.counter() + 1_000);
            advance(20_000, t);
            assertEquals("20+", next());
            assertEquals(4, r.read(Hpet.ISR, 8), "status bit of timer 2");
            assertNull(lines.poll(100, TimeUnit.MILLISECONDS), "the level stays up");
            r.write(Hpet.ISR, 8, 4);
            assertEquals("20-", next());
        }
    }

    @Test
    void theThreadIsATimerThreadAndStopsOnClose() throws Exception {
        HpetTimer t = new HpetTimer(hpet, now::get);
        Thread found = Thread.getAllStackTraces().keySet().stream().filter(x -> x.getName().equals("hpet")).findFirst().orElseThrow();
        assertEquals(ThreadKind.TIMER, VmmThreads.kindOf(found));
        t.close();
        found.join(5_000);
        assertFalse(found.isAlive());
    }

    /** Snapshots do not carry the HPET: refused once the guest has switched it on, not before. */
    @Test
    void machineIsUnsaveableOnlyWhileTheGuestHasTheHpetEnabled() {
        dev.vmm.chipset.bus.Bus mmio = new dev.vmm.chipset.bus.Bus("mmio");
        PlatformTimers timers = PlatformTimers.install(true, mmio, gsi -> level -> { });
        dev.vmm.machine.PciSubsystem pci = new dev.vmm.machine.PciSubsystem(new dev.vmm.chipset.bus.Bus("pio"), mmio, g -> l -> { },
                1 << 30, new dev.vmm.chipset.bus.BusDevice() {
                    @Override public long read(long offset, int size) { return 0; }
                    @Override public void write(long offset, int size, long value) { }
                });
        dev.vmm.devices.DeviceRegistry registry = new dev.vmm.devices.DeviceRegistry(pci, java.util.List.of());
        timers.register(registry);
        try {
            assertTrue(registry.unsaveable().isEmpty());
            assertEquals(Hpet.capabilities(), mmio.read(Hpet.DEFAULT_BASE, 8), "the HPET is on the MMIO bus at 0xfed00000");
            mmio.write(Hpet.DEFAULT_BASE + Hpet.CONFIG, 8, Hpet.CFG_ENABLE);
            assertEquals(java.util.List.of("hpet (enabled by the guest)"), registry.unsaveable());
            assertNull(PlatformTimers.install(false, new dev.vmm.chipset.bus.Bus("mmio"), gsi -> level -> { }).hpet(), "--no-hpet");
        } finally {
            registry.close();
        }
    }

    /** LEG_RT_CNF changes reach the PIT hook (KVM's HPET-legacy flag), once per change, in order. */
    @Test
    void legacyReplacementChangesAreReportedForThePit() {
        java.util.List<Boolean> seen = new java.util.ArrayList<>();
        try (HpetTimer t = new HpetTimer(hpet, now::get, seen::add)) {
            BusDevice r = t.registers();
            r.write(Hpet.CONFIG, 8, Hpet.CFG_ENABLE);
            r.write(Hpet.CONFIG, 8, Hpet.CFG_ENABLE | Hpet.CFG_LEGACY);
            r.write(Hpet.CONFIG, 4, Hpet.CFG_ENABLE | Hpet.CFG_LEGACY);
            r.write(Hpet.CONFIG, 8, 0);
        }
        assertEquals(java.util.List.of(true, false), seen);
        byte[] state = new byte[(int) dev.vmm.ffm.kvm.KvmLayouts.KVM_PIT_STATE2.byteSize()];
        state[PitLegacy.FLAGS_OFFSET + 1] = 0x10;                                      // another flag bit stays
        byte[] on = PitLegacy.withFlag(state, true);
        assertEquals(72, PitLegacy.FLAGS_OFFSET, "kvm_pit_state2: three 24-byte channels, then flags");
        assertEquals(1, on[PitLegacy.FLAGS_OFFSET]);
        assertEquals(0x10, on[PitLegacy.FLAGS_OFFSET + 1]);
        assertArrayEquals(state, PitLegacy.withFlag(on, false));
    }
}
