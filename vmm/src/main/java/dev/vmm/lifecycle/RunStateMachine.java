package dev.vmm.lifecycle;

import java.util.Objects;

/** The current {@link RunState} and its changes, checked against QEMU's transition table. Thread-safe. */
public final class RunStateMachine {
    private RunState state;

    public RunStateMachine(RunState initial) {
        this.state = Objects.requireNonNull(initial, "initial");
    }

    public synchronized RunState state() { return state; }

    /** Moves to {@code to}; staying in the same state is allowed. */
    public synchronized void transition(RunState to) {
        if (!tryTransition(to)) {
            throw new IllegalStateException("invalid run state transition: " + state.qapiName() + " -> " + to.qapiName());
        }
    }

    /** Moves to {@code to} if QEMU allows it from the current state; returns whether it did. */
    public synchronized boolean tryTransition(RunState to) {
        Objects.requireNonNull(to, "to");
        if (to == state) return true;
        if (!state.successors().contains(to)) return false;
        state = to;
        return true;
    }

    /** Whether {@code query-status} reports {@code running: true}. */
    public synchronized boolean isRunning() { return state == RunState.RUNNING; }
}
