package dev.vmm.machine;

import dev.vmm.vcpu.VcpuExitHandler;
import dev.vmm.vcpu.VmExit;

import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * Why a machine's run ended; the first report wins. It exists before the machine does, so that
 * devices built on the way (reset, power-off, pvpanic, debug exit) and the vCPUs can end the run
 * without holding the machine itself.
 */
public final class MachineExit implements VcpuExitHandler, Consumer<VmExit> {
    private final CompletableFuture<VmExit> exit = new CompletableFuture<>();
    private volatile java.util.function.Predicate<VmExit> interceptor = e -> false;

    @Override
    public void vmExit(VmExit e) {
        accept(e);
    }

    @Override
    public void accept(VmExit e) {
        if (!exit.isDone() && interceptor.test(e)) return; // handled without ending the run (panic policy)
        exit.complete(e);
    }

    /** Lets {@code i} absorb reports that must not end the run (it returns true for those). */
    void intercept(java.util.function.Predicate<VmExit> i) {
        interceptor = java.util.Objects.requireNonNull(i);
    }

    public boolean isDone() { return exit.isDone(); }

    /** Waits for the end of the run. */
    public VmExit join() { return exit.join(); }
}
