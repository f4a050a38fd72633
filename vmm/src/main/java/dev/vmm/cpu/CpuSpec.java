package dev.vmm.cpu;

import dev.vmm.cli.UsageException;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * A parsed {@code --cpu MODEL[,FEATURE=on|off|VALUE][,+FEATURE][,-FEATURE][,enforce]} (QEMU's
 * {@code -cpu} syntax). Features are CPUID feature names ({@link CpuFeatures}, including the KVM PV
 * flags such as {@code kvm-pv-ipi}) or Hyper-V flags ({@link HyperV}). As in QEMU, {@code -FEATURE}
 * wins over {@code +FEATURE} and {@code FEATURE=on}; otherwise the last setting counts.
 *
 * @param features canonical feature name → on/off, as the user gave them (the model's own are not here)
 */
public record CpuSpec(String model, Map<String, Boolean> features, HyperV.Config hyperV, boolean enforce) {
    public static final String DEFAULT = "host";
    public static final CpuSpec HOST = new CpuSpec(DEFAULT, Map.of(), HyperV.Config.NONE, false);

    /** host and max ({@link CpuModels#HOST_MODELS}): here so that a host CPU does not build CpuModels' table (#19). */
    static final List<String> HOST_MODELS = List.of("host", "max");

    public CpuSpec {
        features = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(features));
    }

    /** host and max: the host's own CPUID as KVM offers it (today's behaviour), not a table entry. */
    public boolean isHost() {
        return HOST_MODELS.contains(model);
    }

    public static boolean isHelp(String spec) {
        return spec != null && (spec.equals("help") || spec.equals("?"));
    }

    /** Parses {@code spec}; anything unknown or malformed is a one-line {@link UsageException} (status 2). */
    public static CpuSpec parse(String spec) {
        if (spec == null || spec.isBlank()) throw new UsageException("--cpu: empty CPU model (see '--cpu help')");
        String[] parts = spec.split(",", -1);
        String model = parts[0].trim();
        if (!HOST_MODELS.contains(model) && !CpuModels.names().contains(model)) { // host needs no model table (#19)
            throw new UsageException("--cpu: unknown CPU model '" + model + "'" + suggest(model, CpuModels.names())
                    + "; '--cpu help' lists the models");
        }
        Map<String, Boolean> set = new LinkedHashMap<>();
        List<String> minus = new ArrayList<>();
        Set<HyperV.Flag> hv = EnumSet.noneOf(HyperV.Flag.class);
        long spinlocks = HyperV.SPINLOCKS_NEVER;
        boolean passthrough = false, enforce = false;
        for (int i = 1; i < parts.length; i++) {
            String p = parts[i].trim();
            if (p.isEmpty()) throw new UsageException("--cpu: empty item in '" + spec + "'");
            String name, value;
            if (p.startsWith("+") || p.startsWith("-")) {
                name = p.substring(1);
                value = p.startsWith("+") ? "on" : "off";
                if (p.startsWith("-")) minus.add(name);
            } else {
                int eq = p.indexOf('=');
                name = eq < 0 ? p : p.substring(0, eq);
                value = eq < 0 ? "on" : p.substring(eq + 1);
            }
            if (name.equals("enforce") || name.equals("check")) {
                boolean on = bool(name, value);
                if (name.equals("enforce")) enforce = on;
                continue;
            }
            if (name.equals("hv-spinlocks")) {
                spinlocks = number(name, value);
                if (spinlocks < HyperV.SPINLOCKS_MIN || spinlocks > HyperV.SPINLOCKS_NEVER) {
                    throw new UsageException("--cpu: hv-spinlocks must be between 0xfff and 0xffffffff, not '" + value + "'");
                }
                hv.add(HyperV.Flag.SPINLOCKS);
                continue;
            }
            if (name.equals("hv-passthrough")) {
                passthrough = bool(name, value);
                continue;
            }
            HyperV.Flag flag = HyperV.Flag.byName(name);
            if (flag != null) {
                if (bool(name, value) && !minus.contains(name)) hv.add(flag); else hv.remove(flag);
                continue;
            }
            String canonical = CpuFeatures.canonical(name);
            if (canonical == null) {
                List<String> known = new ArrayList<>(CpuFeatures.allSpellings());
                known.addAll(HyperV.names());
                throw new UsageException("--cpu: unknown CPU feature '" + name + "'" + suggest(name, known));
            }
            set.put(canonical, bool(name, value));
        }
        for (String m : minus) {
            String c = CpuFeatures.canonical(m);
            if (c != null) set.put(c, false);
        }
        String depError = HyperV.dependencyError(hv);
        if (depError != null) throw new UsageException("--cpu: " + depError);
        return new CpuSpec(model, set, new HyperV.Config(hv, spinlocks, passthrough), enforce);
    }

    private static boolean bool(String name, String value) {
        return switch (value.toLowerCase(Locale.ROOT)) {
            case "on", "true", "yes", "y" -> true;
            case "off", "false", "no", "n" -> false;
            default -> throw new UsageException("--cpu: " + name + " takes on or off, not '" + value + "'");
        };
    }

    private static long number(String name, String value) {
        try {
            return value.startsWith("0x") || value.startsWith("0X") ? Long.parseLong(value.substring(2), 16) : Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw new UsageException("--cpu: " + name + " takes a number, not '" + value + "'");
        }
    }

    /** " (did you mean A, B?)" with up to three close names, or "". */
    static String suggest(String wrong, List<String> known) {
        String w = wrong.toLowerCase(Locale.ROOT);
        int limit = Math.max(1, Math.min(3, w.length() / 3));
        List<String> close = known.stream()
                .filter(k -> { String kl = k.toLowerCase(Locale.ROOT);
                    return distance(w, kl) <= limit || (w.length() >= 3 && kl.startsWith(w)); })
                .sorted(Comparator.comparingInt((String k) -> distance(w, k.toLowerCase(Locale.ROOT))).thenComparing(k -> k))
                .distinct().limit(3).toList();
        return close.isEmpty() ? "" : " (did you mean " + String.join(", ", close) + "?)";
    }

    /** Levenshtein distance. */
    static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1], cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) prev[j] = j;
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int sub = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                cur[j] = Math.min(sub, Math.min(prev[j] + 1, cur[j - 1] + 1));
            }
            int[] t = prev; prev = cur; cur = t;
        }
        return prev[b.length()];
    }

    /** The {@code --cpu help} listing: one model per line with its model-id, then the flag families. */
    public static String help() {
        StringBuilder sb = new StringBuilder("Available CPU models (--cpu MODEL[,FEATURE=on|off][,+FEATURE][,-FEATURE][,enforce]):\n");
        sb.append(String.format("  %-20s %s%n", "host", "the host's CPU as KVM offers it (default)"));
        sb.append(String.format("  %-20s %s%n", "max", "every feature this host's KVM offers (same as host)"));
        for (CpuModel m : CpuModels.all()) sb.append(String.format("  %-20s %s%n", m.name(), m.modelId()));
        sb.append("KVM paravirtual flags: kvmclock kvm-nopiodelay kvm-asyncpf kvm-asyncpf-int kvm-steal-time kvm-pv-eoi\n"
                + "  kvm-pv-unhalt kvm-pv-tlb-flush kvm-pv-ipi kvm-poll-control kvm-pv-sched-yield kvm-msi-ext-dest-id kvmclock-stable-bit\n");
        sb.append("Hyper-V: ").append(String.join(" ", HyperV.names())).append(" (hv-spinlocks=N)\n");
        sb.append("CPUID feature names: 'vmm cpuid --cpu MODEL' shows a model's leaves.\n");
        return sb.toString();
    }
}
