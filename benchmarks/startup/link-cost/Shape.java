// Issue #19 start-up harness (benchmarks/startup/link-cost/run.sh): not part of the build.
import java.lang.foreign.*;
import java.lang.invoke.*;
import static java.lang.foreign.ValueLayout.*;
public class Shape {
    public static void main(String[] a) throws Throwable {
        int n = Integer.parseInt(a[0]); boolean cap = a[1].equals("1"), var = a[2].equals("1");
        var mx = java.lang.management.ManagementFactory.getThreadMXBean();
        Linker l = Linker.nativeLinker();
        MemorySegment sym = l.defaultLookup().find("syscall").orElseThrow();
        MemoryLayout[] args = new MemoryLayout[n]; java.util.Arrays.fill(args, JAVA_LONG);
        FunctionDescriptor fd = FunctionDescriptor.of(JAVA_LONG, args);
        java.util.List<Linker.Option> o = new java.util.ArrayList<>();
        if (cap) o.add(Linker.Option.captureCallState("errno"));
        if (var) o.add(Linker.Option.firstVariadicArg(1));
        long c1 = mx.getCurrentThreadCpuTime();
        MethodHandle h = l.downcallHandle(sym, fd, o.toArray(Linker.Option[]::new));
        long c2 = mx.getCurrentThreadCpuTime();
        System.out.printf("n=%d cap=%s var=%s link %.1f ms%n", n, cap, var, (c2 - c1) / 1e6);
    }
}
