package dev.vmm.sandbox;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/**
 * A tiny classic-BPF interpreter for tests: runs the instructions {@link Bpf} emits over a
 * seccomp_data record, with the kernel's rules (forward jumps only, aligned 32-bit loads inside
 * the record, falling off the end is an error).
 */
final class BpfInterpreter {
    private BpfInterpreter() {}

    static byte[] record(int nr, int arch, long... args) {
        ByteBuffer b = ByteBuffer.allocate(SeccompData.SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, nr).putInt(4, arch).putLong(8, 0x401000L);
        for (int i = 0; i < args.length; i++) b.putLong(16 + 8 * i, args[i]);
        return b.array();
    }

    static int run(List<Bpf.Insn> prog, byte[] data) {
        ByteBuffer d = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        int a = 0;
        int pc = 0;
        while (true) {
            if (pc >= prog.size()) throw new IllegalStateException("fell off the end of the program");
            Bpf.Insn in = prog.get(pc++);
            int cls = in.code() & 0x07;
            switch (cls) {
                case Bpf.BPF_LD -> {
                    if (in.code() != (Bpf.BPF_LD | Bpf.BPF_W | Bpf.BPF_ABS)) throw new IllegalStateException("ld mode " + in.code());
                    if (in.k() < 0 || in.k() + 4 > data.length || in.k() % 4 != 0) throw new IllegalStateException("load at " + in.k());
                    a = d.getInt(in.k());
                }
                case Bpf.BPF_RET -> { return in.k(); }
                case Bpf.BPF_JMP -> {
                    boolean taken = switch (in.code() & 0xf0) {
                        case Bpf.BPF_JEQ -> a == in.k();
                        case Bpf.BPF_JGE -> Integer.compareUnsigned(a, in.k()) >= 0;
                        case Bpf.BPF_JGT -> Integer.compareUnsigned(a, in.k()) > 0;
                        case Bpf.BPF_JSET -> (a & in.k()) != 0;
                        default -> throw new IllegalStateException("jump op " + in.code());
                    };
                    pc += taken ? in.jt() : in.jf();
                }
                default -> throw new IllegalStateException("class " + cls);
            }
        }
    }
}
