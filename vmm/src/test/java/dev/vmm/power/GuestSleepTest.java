package dev.vmm.power;

import dev.vmm.lifecycle.Lifecycle;
import dev.vmm.lifecycle.RunState;
import dev.vmm.lifecycle.ShutdownCause;
import dev.vmm.vcpu.VmExit;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** S3/S4 through the run-state machine and events, with a recording platform in place of KVM. */
class GuestSleepTest {
    final List<String> events = new ArrayList<>();
    final List<String> platform = new ArrayList<>();
    WakeEntry entry = WakeEntry.decode(0x9A000, 0, 2);
    RuntimeException entryProblem;

    final Lifecycle lifecycle = new Lifecycle();
    final GuestSleep sleep = new GuestSleep(lifecycle, new GuestSleep.Platform() {
        @Override public void parkVcpus() { platform.add("park"); }

        @Override public WakeEntry wakeEntry() {
            if (entryProblem != null) throw entryProblem;
            return entry;
        }

        @Override public void wakeStatus(boolean byRtc) { platform.add("wak" + (byRtc ? "+rtc" : "")); }

        @Override public void resumeAt(WakeEntry e) { platform.add("resume@" + Long.toHexString(e.linear())); }

        @Override public void resetInstead(String why) { platform.add("reset: " + why); }
    });

    GuestSleepTest() {
        lifecycle.addSink((name, data) -> events.add(name + (data.isEmpty() ? "" : data.toString())));
    }

    private void running() {
        lifecycle.states().transition(RunState.RUNNING);
    }

    @Test
    void s3ParksSendsSuspendAndSystemWakeupResumesAtTheVector() throws Exception {
        running();
        sleep.suspend();
        assertThat(lifecycle.state()).isEqualTo(RunState.SUSPENDED);
        assertThat(lifecycle.state().qapiName()).isEqualTo("suspended");
        assertThat(events).containsExactly("SUSPEND");
        assertThat(platform).containsExactly("park");
        sleep.suspend();                                          // already suspended: nothing more
        assertThat(events).containsExactly("SUSPEND");

        sleep.wakeup(false);
        assertThat(platform).containsExactly("park", "wak", "resume@9a000");
        assertThat(lifecycle.state()).isEqualTo(RunState.RUNNING);
        assertThat(events).containsExactly("SUSPEND", "WAKEUP");
    }

    @Test
    void wakeupOutsideSuspendedIsRefusedWithQemusWords() {
        assertThatThrownBy(() -> sleep.wakeup(false)).isInstanceOf(GuestSleep.NotSuspended.class)
                .hasMessage("Unable to wake up: guest is not in suspended state");
        running();
        assertThatThrownBy(() -> sleep.wakeup(false)).isInstanceOf(GuestSleep.NotSuspended.class);
        assertThat(platform).isEmpty();
        assertThat(events).isEmpty();
    }

    @Test
    void s3OutsideRunningChangesNothing() throws Exception {
        sleep.suspend();                                          // prelaunch
        lifecycle.states().transition(RunState.RUNNING);
        lifecycle.paused();
        events.clear();
        sleep.suspend();                                          // paused
        assertThat(lifecycle.state()).isEqualTo(RunState.PAUSED);
        assertThat(platform).isEmpty();
        assertThat(events).isEmpty();
    }

    @Test
    void anRtcWakeSetsRtcStatusToo() throws Exception {
        running();
        sleep.suspend();
        sleep.wakeup(true);
        assertThat(platform).contains("wak+rtc");
    }

    @Test
    void aGuestWithoutWakingVectorIsResetInstead() throws Exception {
        running();
        sleep.suspend();
        entryProblem = new IllegalStateException("the guest left no waking vector in the FACS");
        sleep.wakeup(false);
        assertThat(platform).containsExactly("park", "reset: resume from S3 impossible: the guest left no waking vector in the FACS");
        assertThat(events).containsExactly("SUSPEND");
    }

    @Test
    void s4SendsSuspendDiskAndEndsAsAGuestPowerOffWithStatusZero() {
        running();
        sleep.hibernate();
        assertThat(events).containsExactly("SUSPEND_DISK");
        VmExit exit = new VmExit(VmExit.Kind.POWER_OFF, 0, GuestSleep.HIBERNATED, null);
        assertThat(exit.status()).isZero();
        assertThat(exit.reason()).isEqualTo("guest hibernated (S4)");
        lifecycle.ended(exit, false);
        assertThat(ShutdownCause.of(exit)).isEqualTo(ShutdownCause.GUEST_SHUTDOWN);
        assertThat(events).containsExactly("SUSPEND_DISK", "SHUTDOWN{guest=true, reason=guest-shutdown}");
    }
}
