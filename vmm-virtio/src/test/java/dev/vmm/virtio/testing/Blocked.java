package dev.vmm.virtio.testing;

import java.util.Arrays;

/**
 * A positive synchronisation point for "this call must not return yet" assertions: waits until a
 * thread is parked (WAITING or TIMED_WAITING) with a given method on its stack. Asserting "not
 * done" only after this proves the code under test reached its wait, instead of hoping a sleep
 * was long enough for it to get there.
 */
public final class Blocked {
    private Blocked() { }

    /**
     * Waits (up to {@code timeoutMs}) for {@code t} to park inside {@code className.method};
     * fails if it ends first or never gets there.
     */
    public static void awaitParkedIn(Thread t, String className, String method, long timeoutMs) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (true) {
            Thread.State s = t.getState();
            if (s == Thread.State.TERMINATED)
                throw new AssertionError(t.getName() + " ended instead of waiting in " + className + "." + method);
            if (parked(s) && inMethod(t.getStackTrace(), className, method) && parked(t.getState())) return;
            if (System.nanoTime() - deadline > 0)
                throw new AssertionError(t.getName() + " did not wait in " + className + "." + method + " within " + timeoutMs
                        + " ms; state " + s + ", stack " + Arrays.toString(t.getStackTrace()));
            Thread.sleep(1);
        }
    }

    private static boolean parked(Thread.State s) {
        return s == Thread.State.WAITING || s == Thread.State.TIMED_WAITING;
    }

    private static boolean inMethod(StackTraceElement[] stack, String className, String method) {
        for (StackTraceElement e : stack)
            if (e.getClassName().startsWith(className) && e.getMethodName().equals(method)) return true;
        return false;
    }
}
