package dev.vmm.smp;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The vCPU topology of {@code --cpus N[,maxcpus=M][,sockets=S,cores=C,threads=T]}: QEMU 7.2's
 * {@code -smp} with its rules for missing values (cores are preferred over sockets, as QEMU since
 * 6.2) and its error messages, and the x2APIC id layout QEMU derives from it: the thread number in
 * the low bits, then the core, then the die, then the socket, each field as wide as its count needs
 * (Intel SDM vol. 3A §9.9.1 "Hierarchical Mapping of Shared Resources").
 *
 * <p>The {@link #maxCpus()} possible CPUs are numbered 0..maxCpus-1 in APIC id order; the first
 * {@link #cpus()} are present at power-on, the others can be plugged at run time.
 */
public record SmpTopology(int cpus, int maxCpus, int sockets, int dies, int cores, int threads) {
    /** The most vCPUs a machine takes (pc and q35 alike here): an xAPIC id must stay below 0xff. */
    public static final int MAX_CPUS = 255;

    /** Thrown for a topology the user must fix; the message is QEMU's where QEMU has one. */
    public static final class Invalid extends IllegalArgumentException {
        public Invalid(String message) { super(message); }
    }

    public SmpTopology {
        if (cpus < 1 || maxCpus < cpus || sockets < 1 || dies < 1 || cores < 1 || threads < 1
                || (long) sockets * dies * cores * threads != maxCpus) {
            throw new IllegalArgumentException("inconsistent topology " + cpus + "/" + maxCpus + " " + sockets + "x" + dies + "x" + cores + "x" + threads);
        }
    }

    /** Today's {@code --cpus N}: N cores in one socket, one thread each, all present. */
    public static SmpTopology of(int cpus) {
        return new SmpTopology(cpus, cpus, 1, 1, cpus, 1);
    }

    /**
     * Parses the option text. {@code machine} is the name the limit message gives (QEMU names its
     * versioned machine type there, e.g. {@code pc-i440fx-7.2}).
     */
    public static SmpTopology parse(String text, String machine) {
        Map<String, Long> v = new LinkedHashMap<>();
        String[] parts = text.split(",", -1);
        for (int i = 0; i < parts.length; i++) {
            String p = parts[i];
            int eq = p.indexOf('=');
            String key = eq < 0 ? (i == 0 ? "cpus" : p) : p.substring(0, eq);
            String val = eq < 0 ? (i == 0 ? p : null) : p.substring(eq + 1);
            if (!java.util.Set.of("cpus", "maxcpus", "sockets", "dies", "clusters", "cores", "threads").contains(key)) {
                throw new Invalid("Parameter 'smp." + key + "' is unexpected");
            }
            if (val == null) throw new Invalid("Parameter 'smp." + key + "' expects integer");
            v.put(key, number(key, val));
        }
        long cpus = v.getOrDefault("cpus", 0L), maxcpus = v.getOrDefault("maxcpus", 0L), sockets = v.getOrDefault("sockets", 0L),
                dies = v.getOrDefault("dies", 0L), clusters = v.getOrDefault("clusters", 0L), cores = v.getOrDefault("cores", 0L),
                threads = v.getOrDefault("threads", 0L);
        if (clusters > 1) throw new Invalid("clusters not supported by this machine's CPU topology");
        if (dies > 1) throw new Invalid("dies > 1 is not supported by vmm (QEMU's pc/q35 take them; here a package has one die)");
        dies = 1;
        if (cpus == 0 && maxcpus == 0) {
            sockets = sockets > 0 ? sockets : 1;
            cores = cores > 0 ? cores : 1;
            threads = threads > 0 ? threads : 1;
        } else {
            maxcpus = maxcpus > 0 ? maxcpus : cpus;
            // Cores are preferred over sockets (QEMU since 6.2); a value left out is what the others leave over.
            if (cores == 0) {
                sockets = sockets > 0 ? sockets : 1;
                threads = threads > 0 ? threads : 1;
                cores = maxcpus / (sockets * dies * threads);
            } else if (sockets == 0) {
                threads = threads > 0 ? threads : 1;
                sockets = maxcpus / (dies * cores * threads);
            }
            if (threads == 0) threads = maxcpus / (sockets * dies * cores);
        }
        long total = sockets * dies * cores * threads;
        maxcpus = maxcpus > 0 ? maxcpus : total;
        cpus = cpus > 0 ? cpus : maxcpus;
        String product = "sockets (" + sockets + ") * dies (" + dies + ") * cores (" + cores + ") * threads (" + threads + ")";
        if (total != maxcpus) {
            throw new Invalid("Invalid CPU topology: product of the hierarchy must match maxcpus: " + product + " != maxcpus (" + maxcpus + ")");
        }
        if (maxcpus < cpus) {
            throw new Invalid("Invalid CPU topology: maxcpus must be equal to or greater than smp: " + product
                    + " == maxcpus (" + maxcpus + ") < smp_cpus (" + cpus + ")");
        }
        if (maxcpus > MAX_CPUS) {
            throw new Invalid("Invalid SMP CPUs " + maxcpus + ". The max CPUs supported by machine '" + machine + "' is " + MAX_CPUS);
        }
        SmpTopology t = new SmpTopology((int) cpus, (int) maxcpus, (int) sockets, (int) dies, (int) cores, (int) threads);
        if (t.apicId(t.maxCpus - 1) > 254) {
            throw new Invalid("this topology needs APIC ids up to " + t.apicId(t.maxCpus - 1)
                    + ", vmm's xAPIC tables end at 254 (use fewer sockets, or core/thread counts that are powers of two)");
        }
        return t;
    }

    private static long number(String key, String val) {
        try {
            long n = Long.parseLong(val.trim());
            if (n < 0) throw new Invalid("Parameter 'smp." + key + "' expects integer");
            if (n == 0) throw new Invalid("CPU topology parameters must be greater than zero");
            return Math.min(n, Integer.MAX_VALUE);
        } catch (NumberFormatException e) {
            throw new Invalid("Parameter 'smp." + key + "' expects integer");
        }
    }

    /** Whether CPUs can be plugged at run time (maxcpus above the boot count). */
    public boolean hotpluggable() { return maxCpus > cpus; }

    /** Bits of the APIC id that number the thread within its core. */
    public int threadBits() { return bits(threads); }

    /** Bits that number the core within its die. */
    public int coreBits() { return bits(cores); }

    /** Where the die field starts (bits below number thread and core). */
    public int dieShift() { return threadBits() + coreBits(); }

    /** Where the socket (package) field starts. */
    public int socketShift() { return dieShift() + bits(dies); }

    /** Logical processors in one package. */
    public int threadsPerSocket() { return dies * cores * threads; }

    private static int bits(int count) {
        return count > 1 ? 32 - Integer.numberOfLeadingZeros(count - 1) : 0;
    }

    /** Socket, die, core and thread of possible CPU {@code index}. */
    public record Slot(int index, int socket, int die, int core, int thread) {}

    public Slot slot(int index) {
        if (index < 0 || index >= maxCpus) throw new IllegalArgumentException("CPU index 0.." + (maxCpus - 1) + ": " + index);
        return new Slot(index, index / (threads * cores * dies), index / (threads * cores) % dies, index / threads % cores, index % threads);
    }

    /** The APIC id (x2APIC id layout) of possible CPU {@code index}. */
    public int apicId(int index) {
        Slot s = slot(index);
        return (s.socket << socketShift()) | (s.die << dieShift()) | (s.core << threadBits()) | s.thread;
    }

    /** The APIC ids of CPUs {@code 0..count-1}. */
    public int[] apicIds(int count) {
        int[] ids = new int[count];
        for (int i = 0; i < count; i++) ids[i] = apicId(i);
        return ids;
    }

    /** The possible CPU at these coordinates (each already checked against its range). */
    public int index(int socket, int die, int core, int thread) {
        return ((socket * dies + die) * cores + core) * threads + thread;
    }

    /** One line for {@code --dry-run}. */
    public String describe() {
        return String.format("topology: %d present of %d possible (sockets=%d, cores=%d, threads=%d), APIC ids %s", cpus, maxCpus,
                sockets, cores, threads, java.util.Arrays.toString(apicIds(maxCpus)));
    }
}
