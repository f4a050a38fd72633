package dev.vmm.cpu;

import dev.vmm.ffm.kvm.CpuidEntries;
import dev.vmm.ffm.kvm.Kvm;
import dev.vmm.ffm.kvm.KvmUnavailableException;
import dev.vmm.vcpu.CpuTopology;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code vmm cpuid [--cpu SPEC] [--json]}: the CPUID leaves vCPU 0 of a guest would get. Without
 * /dev/kvm, the model's definition; with it, after filtering against this host's KVM.
 */
@Command(name = "cpuid", mixinStandardHelpOptions = true, versionProvider = dev.vmm.cli.VersionProvider.class,
        description = "Print the CPUID leaves a guest's vCPU 0 would get (with /dev/kvm: filtered against this host).")
public final class CpuidCommand implements Callable<Integer> {
    @Option(names = "--cpu", paramLabel = "MODEL[,FEATURE=on|off][,+F][,-F][,enforce]", defaultValue = CpuSpec.DEFAULT,
            description = "CPU model and features, as for 'vmm run' (default: ${DEFAULT-VALUE}); 'help' lists the models.")
    String cpu;

    @Option(names = "--json", description = "One JSON array of {function, index, eax, ebx, ecx, edx} (numbers).")
    boolean json;

    @Option(names = "--cpus", paramLabel = "N", defaultValue = "1", description = "vCPUs in the topology (default: ${DEFAULT-VALUE}).")
    int cpus;

    PrintStream out = System.out, err = System.err;

    @Override
    public Integer call() {
        if (CpuSpec.isHelp(cpu)) {
            out.print(CpuSpec.help());
            return 0;
        }
        if (cpus < 1 || cpus > dev.vmm.machine.MachineConfig.MAX_CPUS) {
            throw new dev.vmm.cli.UsageException("--cpus must be between 1 and " + dev.vmm.machine.MachineConfig.MAX_CPUS);
        }
        CpuSpec spec = CpuSpec.parse(cpu);
        CpuResolver.Resolved r;
        String source;
        Kvm kvm = openKvm();
        if (kvm == null) {
            r = CpuResolver.definition(spec);
            source = "the model's definition (no /dev/kvm here: not filtered against a host)";
        } else {
            try (kvm) {
                r = CpuResolver.forHost(spec, KvmHost.read(kvm, kvm.supportedCpuid()));
            }
            source = "filtered against this host's KVM";
        }
        r.warnings().forEach(w -> err.println("vmm: warning: " + w));
        CpuidEntries vcpu0 = CpuTopology.forVcpu(r.cpuid(), 0, cpus, true);
        List<CpuidEntries.Entry> leaves = sorted(vcpu0);
        if (json) {
            out.println(toJson(leaves));
        } else {
            out.println("# --cpu " + cpu + ": " + source + "; vCPU 0 of " + cpus);
            for (CpuidEntries.Entry e : leaves) {
                out.printf("0x%08x 0x%02x: eax=0x%08x ebx=0x%08x ecx=0x%08x edx=0x%08x%n", e.function, e.index, e.eax, e.ebx, e.ecx, e.edx);
            }
        }
        return 0;
    }

    private static Kvm openKvm() {
        try {
            return Kvm.open();
        } catch (KvmUnavailableException e) {
            return null;
        }
    }

    static List<CpuidEntries.Entry> sorted(CpuidEntries c) {
        List<CpuidEntries.Entry> l = new ArrayList<>(c.entries());
        l.sort(Comparator.comparingLong((CpuidEntries.Entry e) -> Integer.toUnsignedLong(e.function)).thenComparingInt(e -> e.index));
        return l;
    }

    /** The JSON array, registers as unsigned numbers. */
    static String toJson(List<CpuidEntries.Entry> leaves) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < leaves.size(); i++) {
            CpuidEntries.Entry e = leaves.get(i);
            if (i > 0) sb.append(",\n ");
            sb.append(String.format("{\"function\": %d, \"index\": %d, \"eax\": %d, \"ebx\": %d, \"ecx\": %d, \"edx\": %d}",
                    Integer.toUnsignedLong(e.function), Integer.toUnsignedLong(e.index), Integer.toUnsignedLong(e.eax),
                    Integer.toUnsignedLong(e.ebx), Integer.toUnsignedLong(e.ecx), Integer.toUnsignedLong(e.edx)));
        }
        return sb.append("]").toString();
    }
}
