package dev.vmm.lifecycle;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RunStateMachineTest {
    @Test
    void qapiNamesAreQemus() {
        assertThat(RunState.GUEST_PANICKED.qapiName()).isEqualTo("guest-panicked");
        assertThat(RunState.PRELAUNCH.qapiName()).isEqualTo("prelaunch");
        assertThat(RunState.INMIGRATE.qapiName()).isEqualTo("inmigrate");
        assertThat(RunState.POSTMIGRATE.qapiName()).isEqualTo("postmigrate");
    }

    @Test
    void startPausedThenContThenStop() {
        RunStateMachine m = new RunStateMachine(RunState.PRELAUNCH);
        m.transition(RunState.RUNNING);
        assertThat(m.isRunning()).isTrue();
        m.transition(RunState.PAUSED);
        assertThat(m.isRunning()).isFalse();
        m.transition(RunState.RUNNING);
        assertThat(m.state()).isEqualTo(RunState.RUNNING);
    }

    @Test
    void refusedTransitionsLeaveTheStateAlone() {
        RunStateMachine m = new RunStateMachine(RunState.RUNNING);
        assertThat(m.tryTransition(RunState.PRELAUNCH)).isFalse();
        assertThat(m.tryTransition(RunState.INMIGRATE)).isFalse();
        assertThat(m.state()).isEqualTo(RunState.RUNNING);
        m.transition(RunState.SHUTDOWN);
        assertThatThrownBy(() -> m.transition(RunState.RUNNING)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("shutdown -> running");
        assertThat(m.state().needsReset()).isTrue();
    }

    @Test
    void prelaunchCannotPanicOrShutDownAndPausedCannotPanic() {
        RunStateMachine m = new RunStateMachine(RunState.PRELAUNCH);
        assertThat(m.tryTransition(RunState.GUEST_PANICKED)).isFalse();
        assertThat(m.tryTransition(RunState.SHUTDOWN)).isFalse();
        assertThat(m.tryTransition(RunState.PAUSED)).isFalse();
        RunStateMachine p = new RunStateMachine(RunState.PAUSED);
        assertThat(p.tryTransition(RunState.GUEST_PANICKED)).isFalse();
        assertThat(p.tryTransition(RunState.POSTMIGRATE)).isTrue();
        assertThat(p.tryTransition(RunState.RUNNING)).isTrue();
    }

    @Test
    void incomingMigrationEndsPausedOrRunning() {
        RunStateMachine m = new RunStateMachine(RunState.PRELAUNCH);
        m.transition(RunState.INMIGRATE);
        m.transition(RunState.PAUSED);
        m.transition(RunState.RUNNING);
        RunStateMachine r = new RunStateMachine(RunState.INMIGRATE);
        r.transition(RunState.RUNNING);
        assertThat(r.isRunning()).isTrue();
    }

    @Test
    void panickedGuestMayBeContinuedAndSuspendedGuestWokenUp() {
        RunStateMachine m = new RunStateMachine(RunState.RUNNING);
        m.transition(RunState.GUEST_PANICKED);
        assertThat(m.state().needsReset()).isFalse();
        m.transition(RunState.RUNNING);
        m.transition(RunState.SUSPENDED);
        assertThat(m.tryTransition(RunState.PAUSED)).isFalse();
        m.transition(RunState.RUNNING);
    }

    @Test
    void everyStateCanStayWhereItIs() {
        for (RunState s : RunState.values()) assertThat(new RunStateMachine(s).tryTransition(s)).isTrue();
    }
}
