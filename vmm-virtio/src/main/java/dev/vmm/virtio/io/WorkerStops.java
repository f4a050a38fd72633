package dev.vmm.virtio.io;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Waiting for a device's queue workers to stop or drain, each on its own I/O thread. A reset must
 * not hang the vCPU that wrote status 0 forever: each worker gets {@link #TIMEOUT_SECONDS}, and a
 * late one is logged (reset) or fails the save (quiesce: a half-drained device must not be saved).
 */
public final class WorkerStops {
    public static final long TIMEOUT_SECONDS = 30;

    private WorkerStops() {}

    /**
     * Waits for every future; one that fails or is late is logged as
     * {@code "<what>: a queue did not <verb> within 30 s (<error>)"}. Returns the results, null for
     * those that did not arrive.
     */
    public static <T> List<T> awaitOrLog(List<CompletableFuture<T>> futures, Consumer<String> log, String what, String verb) {
        List<T> out = new ArrayList<>(futures.size());
        for (CompletableFuture<T> f : futures) {
            try {
                out.add(f.get(TIMEOUT_SECONDS, TimeUnit.SECONDS));
            } catch (Exception e) {
                log.accept(what + ": a queue did not " + verb + " within " + TIMEOUT_SECONDS + " s (" + e + ")");
                out.add(null);
            }
        }
        return out;
    }

    /** Waits for every future; the first that fails or is late throws IllegalStateException with {@code message}. */
    public static <T> List<T> awaitOrThrow(List<CompletableFuture<T>> futures, String message) {
        List<T> out = new ArrayList<>(futures.size());
        for (CompletableFuture<T> f : futures) {
            try {
                out.add(f.get(TIMEOUT_SECONDS, TimeUnit.SECONDS));
            } catch (Exception e) {
                throw new IllegalStateException(message, e);
            }
        }
        return out;
    }
}
