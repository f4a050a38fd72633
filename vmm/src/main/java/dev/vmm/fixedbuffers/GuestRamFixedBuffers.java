package dev.vmm.fixedbuffers;

import dev.vmm.devices.PendingDevice;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import dev.vmm.virtio.io.IoThread;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.function.Consumer;

/**
 * The experimental switch {@code -Dvmm.io.fixedBuffers=true} (through {@code VMM_JAVA_OPTS}): guest
 * RAM registered with every I/O thread's io_uring as fixed buffers, so the raw backend's one-buffer
 * requests go out as READ_FIXED/WRITE_FIXED (docs/io-uring-fixed-buffers.md). Off by default: it did
 * not measure better on the device path here, and registering pins all of guest RAM.
 *
 * <p>Never with a balloon: the kernel keeps the pages it pinned at registration, so after the
 * balloon gives a page back (MADV_DONTNEED/MADV_REMOVE) a fixed read would land in the old page,
 * not in what the guest then sees. A balloon given at start turns the switch off with a line on
 * stderr. virtio-balloon has no device_add driver; if it gains one, that driver must refuse (or
 * unregister the buffers) while the switch is on.
 */
public final class GuestRamFixedBuffers {
    public static final String PROPERTY = "vmm.io.fixedBuffers";

    private GuestRamFixedBuffers() {}

    /** Registers {@code mem}'s regions with {@code threads} when the switch is on; a refusal is reported, not fatal. */
    public static void applyIfEnabled(List<IoThread> threads, GuestMemory mem, List<? extends PendingDevice> devices, Consumer<String> warn) {
        if (Boolean.getBoolean(PROPERTY)) apply(threads, mem, devices, warn);
    }

    /** Registers {@code mem}'s regions with {@code threads} unless a balloon is among {@code devices}. */
    public static void apply(List<IoThread> threads, GuestMemory mem, List<? extends PendingDevice> devices, Consumer<String> warn) {
        if (devices.stream().anyMatch(d -> d.describe().startsWith("virtio-balloon"))) {
            warn.accept("vmm: -D" + PROPERTY + " ignored: a balloon frees pages the io_uring fixed buffers would keep pinned");
            return;
        }
        List<MemorySegment> regions = mem.regions().stream().map(GuestRegion::host).toList();
        for (IoThread t : threads) {
            try {
                t.registerFixedBuffers(regions);
            } catch (RuntimeException e) {
                warn.accept("vmm: io_uring fixed buffers not registered on " + t.name() + ": " + e.getMessage());
            }
        }
    }
}
