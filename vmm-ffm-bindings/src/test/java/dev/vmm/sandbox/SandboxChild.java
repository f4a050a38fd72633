package dev.vmm.sandbox;

import dev.vmm.ffm.libc.Errno;
import dev.vmm.ffm.libc.Libc;
import dev.vmm.ffm.uring.IoUring;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Run in a child JVM by {@link SandboxChildTest}: installs a filter ({@code none}, {@code kill}: the
 * process-wide filter, {@code eperm}/{@code trap}: the same with EPERM/SIGSYS-trap for the dangerous classes), prints
 * {@code INSTALLED seccomp=N}, then attempts one thing and prints {@code RESULT <value>} (a raw
 * system call's result, {@code -errno} on failure). If the filter kills, nothing after INSTALLED.
 */
public final class SandboxChild {
    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "none" -> {}
            case "kill" -> ProcessFilter.install();
            case "eperm" -> Seccomp.install(ProcessFilter.program(Seccomp.errno(Errno.EPERM)), Seccomp.SECCOMP_FILTER_FLAG_TSYNC);
            case "trap" -> Seccomp.install(ProcessFilter.program(Seccomp.RET_TRAP), Seccomp.SECCOMP_FILTER_FLAG_TSYNC);
            default -> throw new IllegalArgumentException(args[0]);
        }
        System.out.println("INSTALLED seccomp=" + Seccomp.mode());
        System.out.flush();
        String result = switch (args[1]) {
            // execve("/bin/true", NULL, NULL): if it went through, /bin/true replaces this JVM (status 0, no RESULT)
            case "execve" -> {
                try (Arena a = Arena.ofConfined()) {
                    yield "" + Libc.syscallRaw(Syscalls.number("execve"), a.allocateFrom("/bin/true").address(), 0, 0, 0, 0, 0);
                }
            }
            case "fork" -> "" + Libc.syscallRaw(Syscalls.number("fork"), 0, 0, 0, 0, 0, 0);
            case "clone-fork" -> "" + Libc.syscallRaw(Syscalls.number("clone"), 17 /* SIGCHLD */, 0, 0, 0, 0, 0);
            case "clone3" -> "" + Libc.syscallRaw(Syscalls.number("clone3"), 0, 0, 0, 0, 0, 0);
            case "ptrace" -> "" + Libc.syscallRaw(Syscalls.number("ptrace"), 0 /* PTRACE_TRACEME */, 0, 0, 0, 0, 0);
            case "mount" -> "" + Libc.syscallRaw(Syscalls.number("mount"), 0, 0, 0, 0, 0, 0);
            case "setuid" -> "" + Libc.syscallRaw(Syscalls.number("setuid"), 0, 0, 0, 0, 0, 0);
            case "affinity-other" -> {
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment mask = a.allocate(128);
                    mask.set(java.lang.foreign.ValueLayout.JAVA_BYTE, 0, (byte) 1);
                    yield "" + Libc.syscallRaw(Syscalls.number("sched_setaffinity"), 1, 128, mask.address(), 0, 0, 0);
                }
            }
            case "process" -> {
                try {
                    yield "started " + new ProcessBuilder("/bin/true").start().waitFor();
                } catch (java.io.IOException e) {
                    yield "IOException " + e.getMessage();
                }
            }
            case "allowed" -> allowed();
            case "per-kind" -> perKind();
            case "strict" -> strict();
            default -> throw new IllegalArgumentException(args[1]);
        };
        System.out.println("RESULT " + result);
        System.out.flush();
    }

    /**
     * A per-kind filter (IO: every number but execve, enforced) registered through
     * VmmThreads.onStart: an IO thread has it, this thread does not.
     */
    private static String perKind() throws Exception {
        ThreadKindFilters f = new ThreadKindFilters();
        for (int nr = 0; nr < 460; nr++) if (nr != Syscalls.number("execve")) f.allow(dev.vmm.threads.ThreadKind.IO, nr);
        f.register(ThreadKindFilters.Mode.ENFORCE);
        String[] seen = new String[1];
        Thread t = dev.vmm.threads.VmmThreads.start(dev.vmm.threads.ThreadKind.IO, "io-test", () -> {
            try (Arena a = Arena.ofConfined()) {
                long r = Libc.syscallRaw(Syscalls.number("execve"), a.allocateFrom("/bin/true").address(), 0, 0, 0, 0, 0);
                seen[0] = "io-seccomp=" + Seccomp.mode() + " io-execve=" + r;
            }
        });
        t.join();
        return seen[0] + " main-seccomp=" + Seccomp.mode();
    }

    /**
     * The --sandbox strict lists (PerKindAllowLists, enforced): a CONTROL thread does ordinary work
     * (a thread, a file written and read back, a unix socket, the pid) and is refused a call outside
     * its list (mount, which no kind has) with EPERM; an IO thread sets up io_uring, which is on the
     * IO list, and is refused socket(2), which is not.
     */
    private static String strict() throws Exception {
        PerKindAllowLists.filters().register(ThreadKindFilters.Mode.ENFORCE);
        String[] seen = new String[2];
        Thread c = dev.vmm.threads.VmmThreads.start(dev.vmm.threads.ThreadKind.CONTROL, "qmp-test", () -> {
            try (Arena a = Arena.ofConfined()) {
                Thread inner = Thread.ofPlatform().start(() -> { });
                inner.join();
                Path f = Files.createTempFile("strict", ".txt");
                Files.writeString(f, "ok");
                String back = Files.readString(f);
                Files.delete(f);
                try (var ch = java.nio.channels.SocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
                    back += ch.isOpen() ? "-socket" : "";
                }
                long mount = Libc.syscallRaw(Syscalls.number("mount"), 0, 0, 0, 0, 0, 0);
                seen[0] = "control-seccomp=" + Seccomp.mode() + " control-work=" + back + " control-pid=" + (Libc.getpid() > 0)
                        + " control-mount=" + mount;
            } catch (Exception e) {
                seen[0] = "control-failed " + e;
            }
        });
        c.join();
        Thread io = dev.vmm.threads.VmmThreads.start(dev.vmm.threads.ThreadKind.IO, "io-test", () -> {
            String uring;
            try (IoUring r = IoUring.create(8, 0)) {
                uring = "ok";
            } catch (RuntimeException e) {
                uring = e.getMessage();
            }
            long socket = Libc.syscallRaw(Syscalls.number("socket"), 1 /* AF_UNIX */, 1 /* SOCK_STREAM */, 0, 0, 0, 0);
            seen[1] = "io-uring=" + uring + " io-socket=" + socket;
        });
        io.join();
        return seen[0] + " " + seen[1] + " main-seccomp=" + Seccomp.mode();
    }

    /** Ordinary JVM and VMM activity: threads, file I/O, the pid, io_uring, a GC. */
    private static String allowed() throws Exception {
        List<Thread> ts = new ArrayList<>();
        int[] sums = new int[4];
        for (int i = 0; i < 4; i++) {
            int n = i;
            Thread t = Thread.ofPlatform().start(() -> { for (int k = 0; k <= 1000; k++) sums[n] += k; });
            ts.add(t);
        }
        for (Thread t : ts) t.join();
        Path f = Files.createTempFile("sandbox-child", ".txt");
        Files.writeString(f, "hello");
        String back = Files.readString(f);
        Files.delete(f);
        System.gc();
        String uring;
        try (IoUring r = IoUring.create(8, 0)) {
            uring = "uring-ok";
        } catch (RuntimeException e) {
            uring = "uring-unavailable";
        }
        return "threads=" + (sums[0] + sums[1] + sums[2] + sums[3]) + " file=" + back + " pid=" + (Libc.getpid() > 0) + " " + uring;
    }
}
