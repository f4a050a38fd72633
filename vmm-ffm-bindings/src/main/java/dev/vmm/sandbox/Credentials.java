package dev.vmm.sandbox;

import dev.vmm.ffm.NativeException;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The glibc calls a privilege drop needs, through FFM. The set*id calls go through glibc on
 * purpose, not through syscall(2): the kernel changes the credentials of the calling thread only,
 * and glibc's wrappers repeat the change on every thread of the process (its "setxid" broadcast),
 * which a JVM with dozens of threads needs. The name lookups go through glibc's NSS too, so they must
 * run before a chroot.
 */
final class Credentials {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));

    private static final MethodHandle GETPWNAM = call("getpwnam", FunctionDescriptor.of(ADDRESS, ADDRESS));
    private static final MethodHandle GETGRNAM = call("getgrnam", FunctionDescriptor.of(ADDRESS, ADDRESS));
    private static final MethodHandle SETGROUPS = call("setgroups", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS));
    private static final MethodHandle SETRESGID = call("setresgid", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle SETRESUID = call("setresuid", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));

    // struct passwd / struct group on x86_64 glibc: two char* then the ids.
    static final long PW_UID = 16, PW_GID = 20, GR_GID = 16;

    private Credentials() {}

    private static MethodHandle call(String name, FunctionDescriptor fd) {
        MemorySegment symbol = LINKER.defaultLookup().find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
        return LINKER.downcallHandle(symbol, fd, Linker.Option.captureCallState("errno"));
    }

    /** {uid, primary gid} of user {@code name}, or null if there is no such user. */
    static int[] user(String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment pw = (MemorySegment) GETPWNAM.invokeExact(a.allocate(CAPTURE), a.allocateFrom(name));
            if (pw.equals(MemorySegment.NULL)) return null;
            pw = pw.reinterpret(PW_GID + 4);
            return new int[] {pw.get(JAVA_INT, PW_UID), pw.get(JAVA_INT, PW_GID)};
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The gid of group {@code name}, or -1 if there is no such group. */
    static int group(String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment gr = (MemorySegment) GETGRNAM.invokeExact(a.allocate(CAPTURE), a.allocateFrom(name));
            if (gr.equals(MemorySegment.NULL)) return -1;
            return gr.reinterpret(GR_GID + 4).get(JAVA_INT, GR_GID);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** setgroups({gid}), then setresgid and setresuid to the one id each: on every thread. */
    static void become(int uid, int gid) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(CAPTURE);
            check("setgroups", (int) SETGROUPS.invokeExact(state, 1L, a.allocateFrom(JAVA_INT, gid)), state);
            check("setresgid", (int) SETRESGID.invokeExact(state, gid, gid, gid), state);
            check("setresuid", (int) SETRESUID.invokeExact(state, uid, uid, uid), state);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static void check(String what, int r, MemorySegment state) {
        if (r == -1) throw new NativeException(what, (int) ERRNO.get(state, 0L));
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }
}
