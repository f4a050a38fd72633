package dev.vmm.cpu;

import dev.vmm.ffm.kvm.CpuidEntries;
import dev.vmm.migration.stream.StateFormatException;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.WeakHashMap;

/**
 * The CPU model in snapshots and migration streams: section {@code cpu} (version 1) carries the
 * {@code --cpu} spec and the CPUID template the guest was given. The receiving side refuses (before
 * any state is applied, so a migration source keeps running) when its own CPUID lacks a feature the
 * guest had, naming each one, or when the processor identity differs.
 */
public final class CpuState {
    private CpuState() {}

    public static final String SECTION = "cpu";
    public static final int VERSION = 1;
    private static final int MAX_ENTRIES = 4096;

    /** The resolved CPU of each machine, kept beside it so machine classes need not know about models. */
    private static final Map<Object, Saved> BY_MACHINE = Collections.synchronizedMap(new WeakHashMap<>());

    /** What a section holds. */
    public record Saved(String spec, CpuidEntries cpuid) {}

    public static void remember(Object machine, String spec, CpuResolver.Resolved cpu) {
        BY_MACHINE.put(machine, new Saved(spec, cpu.cpuid().copy()));
    }

    /** The {@code --cpu} spec {@code machine} was built with ("host" when unknown). */
    public static String spec(Object machine) {
        Saved s = BY_MACHINE.get(machine);
        return s == null ? CpuSpec.DEFAULT : s.spec();
    }

    /** The section body for {@code machine} (an empty spec when it was built without a model). */
    public static void write(DataOutputStream o, Object machine) throws IOException {
        Saved s = BY_MACHINE.get(machine);
        o.writeUTF(s == null ? "" : s.spec());
        List<CpuidEntries.Entry> l = s == null ? List.of() : s.cpuid().entries();
        o.writeInt(l.size());
        for (CpuidEntries.Entry e : l) {
            o.writeInt(e.function); o.writeInt(e.index); o.writeInt(e.flags);
            o.writeInt(e.eax); o.writeInt(e.ebx); o.writeInt(e.ecx); o.writeInt(e.edx);
        }
    }

    public static Saved read(DataInputStream in) throws IOException {
        String spec = in.readUTF();
        int n = in.readInt();
        if (n < 0 || n > MAX_ENTRIES) throw new StateFormatException("cpu section with " + n + " CPUID entries");
        List<CpuidEntries.Entry> l = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            l.add(new CpuidEntries.Entry(in.readInt(), in.readInt(), in.readInt(), in.readInt(), in.readInt(), in.readInt(), in.readInt()));
        }
        return new Saved(spec, new CpuidEntries(l));
    }

    /** Reads the section and refuses when {@code machine}'s CPU cannot carry on the guest's. */
    public static void check(DataInputStream in, Object machine) throws IOException {
        Saved incoming = read(in);
        Saved own = BY_MACHINE.get(machine);
        if (incoming.cpuid().entries().isEmpty() || own == null) return; // a side without a model: nothing to hold to
        String why = incompatibility(incoming, own);
        if (why != null) throw new StateFormatException(why);
    }

    /** Why a guest given {@code from} cannot run on {@code to}, or null (pure). */
    public static String incompatibility(Saved from, Saved to) {
        String a = identity(from.cpuid()), b = identity(to.cpuid());
        if (!a.equals(b)) {
            return "the guest's CPU (" + from.spec() + ": " + a + ") is not this VMM's (" + to.spec() + ": " + b + ")";
        }
        Set<String> missing = new LinkedHashSet<>(CpuidBuilder.features(from.cpuid()));
        missing.removeAll(CpuidBuilder.features(to.cpuid()));
        if (missing.isEmpty()) return null;
        List<String> named = new ArrayList<>();
        for (String n : missing) named.add(CpuFeatures.get(n).describe());
        return "this VMM's CPU (--cpu " + to.spec() + ") lacks features the guest uses: " + String.join(", ", named);
    }

    /** Vendor and family/model/stepping: what a guest keys errata and code paths on. */
    private static String identity(CpuidEntries c) {
        CpuidEntries.Entry l0 = c.find(0, 0), l1 = c.find(1, 0);
        if (l0 == null || l1 == null) return "?";
        int[] fms = CpuidBuilder.decodeSignature(l1.eax);
        return dev.vmm.vcpu.CpuTopology.vendor(c) + " family " + fms[0] + " model " + fms[1] + " stepping " + fms[2];
    }
}
