package dev.vmm.bench.exits;

import dev.vmm.machine.ExitReplay;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * The VMM's side of a guest exit, without KVM: an exit record written into a {@code kvm_run} area,
 * dispatched by the vCPU's {@code ExitDispatcher} to the real PC port devices (COM1, CMOS, POST
 * port). What a PIO exit costs once KVM has returned — to set against the ~9 µs a CPL0 PIO exit
 * costs on the PVM host and ~1–2 µs on VT-x. Run with {@code -prof gc}: the path must allocate
 * nothing (0 B/op).
 *
 * <p>{@code java -jar benchmarks/target/benchmarks.jar ExitDispatchBenchmark -prof gc}
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class ExitDispatchBenchmark {
    private ExitReplay replay;
    private int i;

    @Setup
    public void setUp() {
        replay = new ExitReplay();
    }

    @TearDown
    public void tearDown() {
        replay.close();
    }

    /** Two exits: IN from the line status register, OUT to the transmit register. */
    @Benchmark
    public void serialByte() {
        replay.serialByte((byte) 'x');
    }

    /** Two exits: OUT of the CMOS index, IN of the data (the seconds register: reads the clock). */
    @Benchmark
    public int cmosSecondsRead() {
        return replay.cmosRead(0);
    }

    /** One exit: OUT to the POST port (the cheapest device). */
    @Benchmark
    public void postWrite() {
        replay.post(i++);
    }
}
