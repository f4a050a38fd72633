// Issue #19 start-up harness (benchmarks/startup/link-cost/run.sh): not part of the build.
import java.lang.foreign.*;
import java.lang.invoke.*;
import static java.lang.foreign.ValueLayout.*;

/** Times Linker.nativeLinker() and one downcallHandle(...) for a given descriptor shape, in a fresh JVM. */
public class LinkCost {
    public static void main(String[] a) throws Throwable {
        String shape = a.length > 0 ? a[0] : "syscall";
        var mx = java.lang.management.ManagementFactory.getThreadMXBean();
        long c0 = mx.getCurrentThreadCpuTime(), t0 = System.nanoTime();
        Linker l = Linker.nativeLinker();
        MemorySegment sym = l.defaultLookup().find(shape.startsWith("syscall") ? "syscall" : "getpid").orElseThrow();
        long c1 = mx.getCurrentThreadCpuTime(), t1 = System.nanoTime();
        MethodHandle h;
        FunctionDescriptor fd7 = FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG);
        switch (shape) {
            case "syscall" -> h = l.downcallHandle(sym, fd7, Linker.Option.captureCallState("errno"), Linker.Option.firstVariadicArg(1));
            case "syscall-nocapture" -> h = l.downcallHandle(sym, fd7, Linker.Option.firstVariadicArg(1));
            case "syscall-novariadic" -> h = l.downcallHandle(sym, fd7, Linker.Option.captureCallState("errno"));
            case "syscall-plain" -> h = l.downcallHandle(sym, fd7);
            case "syscall-critical" -> h = l.downcallHandle(sym, fd7, Linker.Option.critical(false));
            case "getpid" -> h = l.downcallHandle(sym, FunctionDescriptor.of(JAVA_INT));
            default -> throw new IllegalArgumentException(shape);
        }
        long c2 = mx.getCurrentThreadCpuTime(), t2 = System.nanoTime();
        Object r;
        if (shape.equals("getpid")) r = (int) h.invokeExact();
        else if (shape.equals("syscall") || shape.equals("syscall-novariadic")) {
            MemorySegment st = Arena.global().allocate(Linker.Option.captureStateLayout());
            r = (long) h.invokeExact(st, 39L, 0L, 0L, 0L, 0L, 0L, 0L);
        } else r = (long) h.invokeExact(39L, 0L, 0L, 0L, 0L, 0L, 0L);
        long c3 = mx.getCurrentThreadCpuTime(), t3 = System.nanoTime();
        if (!shape.equals("train"))
        System.out.printf("%s linker+lookup %.1f ms cpu, link %.1f ms cpu (%.1f wall), first call %.1f ms cpu -> %s%n", shape,
                (c1 - c0) / 1e6, (c2 - c1) / 1e6, (t2 - t1) / 1e6, (c3 - c2) / 1e6, r);
    }
}
