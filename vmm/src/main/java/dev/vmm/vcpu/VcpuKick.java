package dev.vmm.vcpu;

import dev.vmm.ffm.libc.Libc;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The signal that interrupts a vCPU thread's KVM_RUN. Installing a handler of our own would need
 * an upcall to run in signal context; instead we use the signal the JDK's NIO already reserves for
 * interrupting blocking calls (SIGRTMAX-2, with an empty handler and no SA_RESTART), which exists
 * for exactly this purpose. {@link #signal()} makes sure the JDK has installed it and checks that.
 */
public final class VcpuKick {
    private static final int SIGRTMAX = 64;
    private static final int SIGNAL = SIGRTMAX - 2;
    private static volatile boolean ready;

    private VcpuKick() {}

    public static int signal() {
        if (!ready) ensureHandler();
        return SIGNAL;
    }

    private static synchronized void ensureHandler() {
        if (ready) return;
        // A blocking FileChannel read initialises sun.nio.ch.NativeThread, which installs the handler.
        try (FileChannel ch = FileChannel.open(Path.of("/dev/zero"), StandardOpenOption.READ)) {
            ch.read(ByteBuffer.allocate(1));
        } catch (IOException e) {
            throw new IllegalStateException("cannot initialise NIO signal handling: " + e.getMessage(), e);
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment old = a.allocate(152, 8); // struct sigaction: sa_handler first
            Libc.sigaction(SIGNAL, MemorySegment.NULL, old);
            long handler = old.get(JAVA_LONG, 0);
            if (handler == 0 /* SIG_DFL */ || handler == 1 /* SIG_IGN */) {
                throw new IllegalStateException("no handler for signal " + SIGNAL + ": cannot interrupt vCPUs safely");
            }
        }
        ready = true;
    }
}
