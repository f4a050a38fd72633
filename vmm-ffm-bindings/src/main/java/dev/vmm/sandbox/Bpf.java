package dev.vmm.sandbox;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A classic-BPF assembler for seccomp programs: the few instructions a syscall filter needs
 * (load a 32-bit word of {@code struct seccomp_data}, compare the accumulator with a constant, return
 * an action), with symbolic labels as jump targets. {@link #assemble()} resolves the labels into the
 * 8-bit forward offsets classic BPF has, and refuses what the kernel would refuse: backward jumps, a
 * jump farther than 255 instructions, an unknown label, a program of more than
 * {@link #MAX_INSNS} instructions or one whose last instruction is not a return.
 */
public final class Bpf {
    /** BPF_MAXINSNS of linux/filter.h: the kernel refuses longer programs. */
    public static final int MAX_INSNS = 4096;

    // linux/bpf_common.h opcode parts.
    public static final int BPF_LD = 0x00, BPF_JMP = 0x05, BPF_RET = 0x06;
    public static final int BPF_W = 0x00, BPF_ABS = 0x20, BPF_K = 0x00;
    public static final int BPF_JA = 0x00, BPF_JEQ = 0x10, BPF_JGT = 0x20, BPF_JGE = 0x30, BPF_JSET = 0x40;

    /** One {@code struct sock_filter}, resolved. */
    public record Insn(int code, int jt, int jf, int k) {}

    /**
     * An instruction before label resolution. Each encodes itself (a method, not a pattern
     * {@code switch}: the switch's {@code $$TypeSwitch} class is spun at run time on every start,
     * and {@code img info} assembles its filter before the printout; #19).
     */
    private sealed interface Op {
        Insn encode(Bpf program, int pc);
    }
    private record Load(int offset) implements Op {
        public Insn encode(Bpf program, int pc) { return new Insn(BPF_LD | BPF_W | BPF_ABS, 0, 0, offset); }
    }
    private record Jump(int cond, int k, String ifTrue, String ifFalse) implements Op {
        public Insn encode(Bpf program, int pc) {
            return new Insn(BPF_JMP | cond | BPF_K, program.offset(pc, ifTrue), program.offset(pc, ifFalse), k);
        }
    }
    private record Ret(int action) implements Op {
        public Insn encode(Bpf program, int pc) { return new Insn(BPF_RET | BPF_K, 0, 0, action); }
    }

    private final List<Op> ops = new ArrayList<>();
    private final Map<String, Integer> labels = new HashMap<>();

    /** A label for the next instruction. */
    public Bpf label(String name) {
        if (labels.putIfAbsent(Objects.requireNonNull(name), ops.size()) != null)
            throw new IllegalArgumentException("label defined twice: " + name);
        return this;
    }

    /** A = the 32-bit word at {@code offset} of seccomp_data (see {@link SeccompData}). */
    public Bpf load(int offset) {
        if (offset < 0 || offset % 4 != 0 || offset >= SeccompData.SIZE)
            throw new IllegalArgumentException("not a 32-bit field of seccomp_data: " + offset);
        ops.add(new Load(offset));
        return this;
    }

    /** if (A == k) goto ifTrue else goto ifFalse; a null label means the next instruction. */
    public Bpf jeq(int k, String ifTrue, String ifFalse) { return jump(BPF_JEQ, k, ifTrue, ifFalse); }

    /** if (A >= k, unsigned) goto ifTrue else goto ifFalse. */
    public Bpf jge(int k, String ifTrue, String ifFalse) { return jump(BPF_JGE, k, ifTrue, ifFalse); }

    /** if (A & k) goto ifTrue else goto ifFalse. */
    public Bpf jset(int k, String ifTrue, String ifFalse) { return jump(BPF_JSET, k, ifTrue, ifFalse); }

    private Bpf jump(int cond, int k, String ifTrue, String ifFalse) {
        ops.add(new Jump(cond, k, ifTrue, ifFalse));
        return this;
    }

    /** return action (a SECCOMP_RET_* value, see {@link Seccomp}). */
    public Bpf ret(int action) {
        ops.add(new Ret(action));
        return this;
    }

    public int size() { return ops.size(); }

    /** The program with every label resolved. */
    public List<Insn> assemble() {
        if (ops.isEmpty()) throw new IllegalStateException("empty program");
        if (ops.size() > MAX_INSNS)
            throw new IllegalStateException("program of " + ops.size() + " instructions, the kernel takes at most " + MAX_INSNS);
        if (!(ops.getLast() instanceof Ret)) throw new IllegalStateException("the last instruction must be a return");
        for (Map.Entry<String, Integer> l : labels.entrySet())
            if (l.getValue() >= ops.size()) throw new IllegalStateException("label at the end of the program: " + l.getKey());
        List<Insn> out = new ArrayList<>(ops.size());
        for (int pc = 0; pc < ops.size(); pc++) out.add(ops.get(pc).encode(this, pc));
        return List.copyOf(out);
    }

    private int offset(int pc, String label) {
        if (label == null) return 0;
        Integer target = labels.get(label);
        if (target == null) throw new IllegalStateException("unknown label: " + label);
        int off = target - pc - 1;
        if (off < 0) throw new IllegalStateException("backward jump to " + label + " (classic BPF only jumps forward)");
        if (off > 255) throw new IllegalStateException("jump to " + label + " is " + off + " instructions, more than 255");
        return off;
    }
}
