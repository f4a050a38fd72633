package dev.vmm.lifecycle;

import dev.vmm.vcpu.VmExit;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * One machine's life as QEMU describes it: its {@link RunState}, the life-cycle events it emits
 * (to every registered sink, e.g. the QMP server), its panic policy and whether it stays in state
 * shutdown after the guest powers off ({@code --no-shutdown}). No threads, no KVM: the machine
 * calls in when something happens.
 */
public final class Lifecycle {
    /** Receives an event name and its data. */
    @FunctionalInterface
    public interface EventSink {
        void event(String name, Map<String, Object> data);
    }

    private final RunStateMachine states = new RunStateMachine(RunState.PRELAUNCH);
    private final List<EventSink> sinks = new CopyOnWriteArrayList<>();
    private final CompletableFuture<ShutdownCause> quit = new CompletableFuture<>();
    private volatile PanicPolicy panicPolicy = PanicPolicy.EXIT;
    private volatile boolean noShutdown;

    public RunStateMachine states() { return states; }

    public RunState state() { return states.state(); }

    public void addSink(EventSink s) { sinks.add(s); }

    public void emit(String name, Map<String, Object> data) {
        for (EventSink s : sinks) s.event(name, data);
    }

    public PanicPolicy panicPolicy() { return panicPolicy; }

    public void panicPolicy(PanicPolicy p) { panicPolicy = java.util.Objects.requireNonNull(p); }

    public boolean noShutdown() { return noShutdown; }

    public void noShutdown(boolean b) { noShutdown = b; }

    /**
     * The vCPUs are paused by request ({@code stop}): from running, state paused and STOP; in any
     * other state nothing changes and there is no event (QEMU's vm_stop acts only on a running VM).
     */
    public void paused() {
        stopAs(RunState.PAUSED);
    }

    /**
     * QEMU's vm_stop: a running machine takes state {@code to}, then STOP is sent; in any other
     * state nothing changes and there is no event. The state changes first so that a client reading
     * STOP and asking {@code query-status} sees the new state (QEMU's main loop does both before it
     * reads the next command).
     */
    private void stopAs(RunState to) {
        if (leaveRunning(to)) emit(LifecycleEvents.STOP, LifecycleEvents.empty());
    }

    /** From running to {@code to}; false (nothing changed) in any other state. */
    private boolean leaveRunning(RunState to) {
        synchronized (states) {
            if (states.state() != RunState.RUNNING) return false;
            states.transition(to);
            return true;
        }
    }

    /** The vCPUs run again ({@code cont}): RESUME, state running. */
    public void resumed() {
        states.transition(RunState.RUNNING);
        emit(LifecycleEvents.RESUME, LifecycleEvents.empty());
    }

    /**
     * The run ended with {@code exit}. Emits RESET when the machine is about to be rebuilt
     * ({@code rebooting}), otherwise SHUTDOWN with the exit's cause; with --no-shutdown and a
     * guest-caused end the machine stops in state shutdown and STOP follows SHUTDOWN, as with
     * QEMU's {@code -no-shutdown}. QEMU's main loop sends both events and changes the state before
     * it reads the next command, so no client sees "running" after SHUTDOWN: here the state
     * changes before either event is sent. Returns the cause.
     */
    public ShutdownCause ended(VmExit exit, boolean rebooting) {
        ShutdownCause cause = ShutdownCause.of(exit);
        if (rebooting) {
            emit(LifecycleEvents.RESET, LifecycleEvents.reset(cause));
            return cause;
        }
        boolean stopped = staysAfter(cause) && leaveRunning(RunState.SHUTDOWN);
        emit(LifecycleEvents.SHUTDOWN, LifecycleEvents.shutdown(cause));
        if (stopped) emit(LifecycleEvents.STOP, LifecycleEvents.empty());
        return cause;
    }

    /** Whether the process stays (state shutdown) after a run that ended for {@code cause}. */
    public boolean staysAfter(ShutdownCause cause) {
        return noShutdown && cause.guest();
    }

    /** A pvpanic: GUEST_PANICKED with the policy's action; with {@code pause} the state becomes guest-panicked. */
    public void panicked() {
        PanicPolicy p = panicPolicy;
        emit(LifecycleEvents.GUEST_PANICKED, LifecycleEvents.guestPanicked(p.action()));
        if (p.kind() == PanicPolicy.Kind.PAUSE) stopAs(RunState.GUEST_PANICKED);
    }

    /** A pvpanic "crash kernel loaded": GUEST_CRASHLOADED, action run; the guest carries on. */
    public void crashLoaded() {
        emit(LifecycleEvents.GUEST_CRASHLOADED, LifecycleEvents.guestPanicked(LifecycleEvents.PanicAction.RUN));
    }

    /** {@code quit} over QMP or a signal: ends a process that stays in state shutdown. First request wins. */
    public void requestQuit(ShutdownCause cause) {
        quit.complete(cause);
    }

    /** Completes when {@link #requestQuit} is called (ends the wait of an incoming migration, issue 15). */
    public java.util.concurrent.CompletionStage<ShutdownCause> quitRequested() {
        return quit.minimalCompletionStage();
    }

    /** Waits for {@link #requestQuit}, then emits its SHUTDOWN (as QEMU does for a quit after -no-shutdown). */
    public ShutdownCause awaitQuit() {
        ShutdownCause c = quit.join();
        emit(LifecycleEvents.SHUTDOWN, LifecycleEvents.shutdown(c));
        return c;
    }

    /** The incoming migration begins (state inmigrate) / has been received. */
    public void incomingStarted() {
        states.transition(RunState.INMIGRATE);
    }

    /** An outgoing migration completed: the source's guest stays stopped (state postmigrate). */
    public void outgoingCompleted() {
        states.tryTransition(RunState.POSTMIGRATE);
    }
}
