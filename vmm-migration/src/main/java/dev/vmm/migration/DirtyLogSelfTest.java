package dev.vmm.migration;

import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;

import java.util.List;

/**
 * Decides whether a {@link DirtyLog} can be trusted, by making the guest itself write a few probe
 * words and checking that the log reports their pages. On this project's PVM host KVM's log misses
 * writes made by emulated guest code, so the probe must be written the way the guest writes (the
 * VMM's {@link GuestWriter} runs a store in the guest), not by the VMM.
 *
 * <p>Run it after {@link DirtyLog#start()} and before the first pass over RAM: it consumes (clears)
 * the log, which is harmless then because the first pass sends every page anyway. The migration
 * source does exactly that when it is given a self-test. Each probed word is restored afterwards
 * through the same writer, so probes can sit in any page the guest does not race on.
 */
public final class DirtyLogSelfTest {
    /** Makes the guest store {@code value} (8 bytes, little-endian) at {@code gpa}; returns once stored. */
    @FunctionalInterface
    public interface GuestWriter {
        void write(long gpa, long value) throws Exception;
    }

    /** The verdict: trustworthy when every probe's page was reported dirty. */
    public record Result(boolean trustworthy, int probes, int missed) {
        @Override
        public String toString() {
            return trustworthy ? "passed (" + probes + " probes)" : "failed (" + missed + " of " + probes + " guest writes not logged)";
        }
    }

    private final GuestMemory memory;
    private final GuestWriter writer;
    private final long[] probes;

    /** @param probeGpas 8-byte aligned guest addresses in RAM to write (at least one) */
    public DirtyLogSelfTest(GuestMemory memory, GuestWriter writer, long... probeGpas) {
        if (probeGpas.length == 0) throw new IllegalArgumentException("the dirty log self-test needs at least one probe address");
        for (long gpa : probeGpas) {
            if ((gpa & 7) != 0 || !memory.isValid(gpa, 8)) {
                throw new IllegalArgumentException(String.format("probe address 0x%x is not an aligned word of guest RAM", gpa));
            }
        }
        this.memory = memory;
        this.writer = writer;
        this.probes = probeGpas.clone();
    }

    /** Runs the probes against {@code log}, which must be started. */
    public Result run(DirtyLog log, int pageSize) throws Exception {
        List<GuestRegion> regions = memory.regions();
        for (int i = 0; i < regions.size(); i++) log.fetchAndClear(i); // start from a clean log
        int missed = 0;
        for (long gpa : probes) {
            int region = regionIndex(regions, gpa);
            long original = memory.readU64(gpa);
            long marker = ~original ^ 0x5A5A_5A5A_5A5A_5A5AL ^ gpa;
            writer.write(gpa, marker);
            if (memory.readU64(gpa) != marker) {
                throw new IllegalStateException(String.format("the guest writer did not store the probe at 0x%x", gpa));
            }
            long page = (gpa - regions.get(region).base()) / pageSize;
            long[] bits = log.fetchAndClear(region);
            if ((bits[(int) (page >>> 6)] & (1L << (page & 63))) == 0) missed++;
            writer.write(gpa, original);
        }
        return new Result(missed == 0, probes.length, missed);
    }

    private static int regionIndex(List<GuestRegion> regions, long gpa) {
        for (int i = 0; i < regions.size(); i++) if (regions.get(i).contains(gpa, 8)) return i;
        throw new IllegalStateException("probe outside RAM");
    }
}
