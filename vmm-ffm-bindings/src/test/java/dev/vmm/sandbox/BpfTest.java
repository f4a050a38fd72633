package dev.vmm.sandbox;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class BpfTest {
    @Test
    void labelsResolveToForwardOffsetsFromTheNextInstruction() {
        List<Bpf.Insn> p = new Bpf()
                .load(SeccompData.NR)              // 0
                .jeq(5, "five", null)              // 1: jt = 4 - 1 - 1 = 2
                .jge(10, "big", "small")           // 2: jt = 5-2-1 = 2, jf = 3-2-1 = 0
                .label("small").ret(1)             // 3
                .label("five").ret(2)              // 4
                .label("big").ret(3)               // 5
                .assemble();
        assertThat(p.get(0)).isEqualTo(new Bpf.Insn(0x20, 0, 0, 0));
        assertThat(p.get(1)).isEqualTo(new Bpf.Insn(0x15, 2, 0, 5));
        assertThat(p.get(2)).isEqualTo(new Bpf.Insn(0x35, 2, 0, 10));
        assertThat(p.get(3)).isEqualTo(new Bpf.Insn(0x06, 0, 0, 1));
        for (int nr : new int[] {0, 5, 9, 10, 11, -1}) {
            int want = nr == 5 ? 2 : Integer.compareUnsigned(nr, 10) >= 0 ? 3 : 1;
            assertThat(BpfInterpreter.run(p, BpfInterpreter.record(nr, 0))).as("nr %d", nr).isEqualTo(want);
        }
    }

    @Test
    void jsetTestsBits() {
        List<Bpf.Insn> p = new Bpf().load(SeccompData.argLow(0)).jset(0x10000, "yes", null).ret(0).label("yes").ret(1).assemble();
        assertThat(BpfInterpreter.run(p, BpfInterpreter.record(56, 0, 0x10000L | 0x100))).isEqualTo(1);
        assertThat(BpfInterpreter.run(p, BpfInterpreter.record(56, 0, 0x11L))).isEqualTo(0);
        // only the low word is loaded: a bit in the high half is not seen
        assertThat(BpfInterpreter.run(p, BpfInterpreter.record(56, 0, 0x10000L << 32))).isEqualTo(0);
    }

    @Test
    void refusesWhatTheKernelWouldRefuse() {
        assertThatThrownBy(() -> new Bpf().assemble()).hasMessageContaining("empty");
        assertThatThrownBy(() -> new Bpf().load(0).assemble()).hasMessageContaining("last instruction");
        assertThatThrownBy(() -> new Bpf().load(0).jeq(1, "nowhere", null).ret(0).assemble()).hasMessageContaining("unknown label");
        assertThatThrownBy(() -> new Bpf().label("top").load(0).jeq(1, "top", null).ret(0).assemble()).hasMessageContaining("backward");
        assertThatThrownBy(() -> new Bpf().label("x").label("x")).hasMessageContaining("twice");
        assertThatThrownBy(() -> new Bpf().load(2)).hasMessageContaining("32-bit");
        assertThatThrownBy(() -> new Bpf().load(SeccompData.SIZE)).hasMessageContaining("32-bit");
        assertThatThrownBy(() -> new Bpf().ret(0).label("end").assemble()).hasMessageContaining("end of the program");
    }

    @Test
    void jumpsLongerThan255AreRefusedAnd255IsTaken() {
        Bpf ok = new Bpf().load(0).jeq(7, "far", null);
        for (int i = 0; i < 255; i++) ok.ret(0);
        List<Bpf.Insn> p = ok.label("far").ret(9).assemble();
        assertThat(p.get(1).jt()).isEqualTo(255);
        assertThat(BpfInterpreter.run(p, BpfInterpreter.record(7, 0))).isEqualTo(9);

        Bpf tooFar = new Bpf().load(0).jeq(7, "far", null);
        for (int i = 0; i < 256; i++) tooFar.ret(0);
        tooFar.label("far").ret(9);
        assertThatThrownBy(tooFar::assemble).hasMessageContaining("more than 255");
    }

    @Test
    void programLengthLimitIsTheKernels() {
        Bpf max = new Bpf();
        for (int i = 0; i < Bpf.MAX_INSNS; i++) max.ret(0);
        assertThat(max.assemble()).hasSize(Bpf.MAX_INSNS);
        max.ret(0);
        assertThatThrownBy(max::assemble).hasMessageContaining("at most 4096");
    }
}
