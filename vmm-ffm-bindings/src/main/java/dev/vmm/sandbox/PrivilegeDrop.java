package dev.vmm.sandbox;

import dev.vmm.ffm.NativeException;
import dev.vmm.ffm.libc.Libc;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * {@code --run-as USER[:GROUP]} and {@code --chroot DIR} (QEMU's -runas / -chroot): called once
 * everything privileged is open. In this order, because each step needs the privilege the next
 * one removes: resolve the names (NSS reads /etc, so before the chroot); chroot and chdir("/");
 * setgroups / setresgid / setresuid to the target ids on every thread (glibc's broadcast, see
 * {@link Credentials}); capset to empty sets on this thread (the uid change from 0 already
 * cleared permitted and effective on every thread; this also clears inheritable); no_new_privs on
 * every thread (prctl on this one, then an allow-all seccomp filter with TSYNC, which the kernel
 * only lets synchronise by copying no_new_privs to each thread). Then it checks the result and
 * refuses to go on if any thread still has an id or a capability it should not (fail closed).
 * After a drop, {@link #droppedTo} tells later privileged steps (opening a tap) to refuse with a clear message.
 */
public final class PrivilegeDrop {
    /** _LINUX_CAPABILITY_VERSION_3: a header then two 32-bit {effective, permitted, inheritable} words. */
    static final int CAPABILITY_VERSION_3 = 0x20080522;

    /** Whom to become: parsed and looked up before anything changes. */
    public record Target(String spec, int uid, int gid) { }

    private static volatile String droppedTo;

    private PrivilegeDrop() {}

    /**
     * Resolves {@code USER[:GROUP]}: names through the system's user and group databases, or numeric
     * ids; without a group, the user's primary group.
     *
     * @throws IllegalArgumentException naming what is unknown
     */
    public static Target resolve(String spec) {
        int colon = spec.indexOf(':');
        String user = colon < 0 ? spec : spec.substring(0, colon);
        String group = colon < 0 ? null : spec.substring(colon + 1);
        if (user.isEmpty() || (group != null && group.isEmpty())) throw new IllegalArgumentException("--run-as " + spec + ": expected USER[:GROUP]");
        int uid, gid;
        int[] pw = user.chars().allMatch(Character::isDigit) ? null : Credentials.user(user);
        if (pw != null) {
            uid = pw[0];
            gid = pw[1];
        } else if (user.chars().allMatch(Character::isDigit)) {
            uid = parseId(user, "user");
            gid = uid;
        } else {
            throw new IllegalArgumentException("--run-as: no user '" + user + "'");
        }
        if (group != null) {
            if (group.chars().allMatch(Character::isDigit)) {
                gid = parseId(group, "group");
            } else {
                gid = Credentials.group(group);
                if (gid < 0) throw new IllegalArgumentException("--run-as: no group '" + group + "'");
            }
        }
        if (uid == 0) throw new IllegalArgumentException("--run-as " + spec + ": that is root, nothing would be dropped");
        return new Target(spec, uid, gid);
    }

    private static int parseId(String s, String what) {
        try {
            int v = Integer.parseInt(s);
            if (v < 0 || v == -1) throw new NumberFormatException();
            return v;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--run-as: bad " + what + " id " + s);
        }
    }

    /**
     * Drops to {@code target} (may be null: chroot only) after a chroot to {@code chroot} (may be
     * null). Once per process.
     *
     * @throws IllegalStateException if a step fails or the result is not what was asked for
     */
    public static synchronized void apply(Target target, Path chroot) {
        if (droppedTo != null) throw new IllegalStateException("privileges were dropped already (" + droppedTo + ")");
        if (target == null && chroot == null) return;
        try {
            if (chroot != null) enterChroot(chroot);
            if (target != null) {
                Credentials.become(target.uid(), target.gid());
                clearCapabilities();
            }
            noNewPrivileges();
        } catch (NativeException e) {
            throw new IllegalStateException("cannot drop privileges: " + e.getMessage(), e);
        }
        if (target != null) verify(target, chroot == null);
        droppedTo = (target != null ? "user " + target.spec() : "root") + (chroot != null ? " in chroot " + chroot : "");
    }

    /** Whether {@link #apply} ran: what the process became, or null. */
    public static String droppedTo() { return droppedTo; }

    private static void enterChroot(Path dir) {
        if (!Files.isDirectory(dir)) throw new IllegalStateException("--chroot " + dir + ": not a directory");
        try (Arena a = Arena.ofConfined()) {
            syscall("chroot", a.allocateFrom(dir.toAbsolutePath().toString()).address());
            syscall("chdir", a.allocateFrom("/").address());
        }
    }

    private static void clearCapabilities() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment header = a.allocate(8);
            header.set(JAVA_INT, 0, CAPABILITY_VERSION_3);
            header.set(JAVA_INT, 4, 0); // this thread
            MemorySegment data = a.allocate(24); // two {effective, permitted, inheritable}, all zero
            syscall("capset", header.address(), data.address());
        }
    }

    private static void noNewPrivileges() {
        Libc.prctl(Libc.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        Seccomp.install(new Bpf().ret(Seccomp.RET_ALLOW).assemble(), Seccomp.SECCOMP_FILTER_FLAG_TSYNC);
    }

    private static long syscall(String name, long a1) {
        return syscall(name, a1, 0);
    }

    private static long syscall(String name, long a1, long a2) {
        long r = Libc.syscallRaw(Syscalls.number(name), a1, a2, 0, 0, 0, 0);
        if (r < 0) throw new NativeException(name, (int) -r);
        return r;
    }

    /**
     * The ids and capabilities as the kernel reports them: this thread through getresuid/getresgid;
     * every thread through /proc when it is reachable (not inside a chroot without /proc).
     */
    private static void verify(Target t, boolean procVisible) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ids = a.allocate(JAVA_INT, 3);
            for (String call : List.of("getresuid", "getresgid")) {
                int want = call.equals("getresuid") ? t.uid() : t.gid();
                Libc.syscallRaw(Syscalls.number(call), ids.address(), ids.address() + 4, ids.address() + 8, 0, 0, 0);
                for (int i = 0; i < 3; i++) {
                    if (ids.getAtIndex(JAVA_INT, i) != want) throw new IllegalStateException(call + " still reports " + ids.getAtIndex(JAVA_INT, i));
                }
            }
        }
        if (!procVisible) return;
        try (var tasks = Files.list(Path.of("/proc/self/task"))) {
            for (Path task : tasks.toList()) {
                List<String> status;
                try {
                    status = Files.readAllLines(task.resolve("status"));
                } catch (IOException gone) {
                    continue; // the thread ended meanwhile
                }
                for (String line : status) {
                    String bad = null;
                    if (line.startsWith("Uid:") && !allEqual(line, t.uid())) bad = line;
                    if (line.startsWith("Gid:") && !allEqual(line, t.gid())) bad = line;
                    if ((line.startsWith("CapPrm:") || line.startsWith("CapEff:") || line.startsWith("CapAmb:"))
                            && Long.parseUnsignedLong(line.substring(7).trim(), 16) != 0) bad = line;
                    if (line.startsWith("NoNewPrivs:") && !line.endsWith("1")) bad = line;
                    if (bad != null) throw new IllegalStateException("thread " + task.getFileName() + " kept privileges: " + bad);
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot check the threads' credentials: " + e.getMessage(), e);
        }
    }

    private static boolean allEqual(String line, int id) {
        String[] f = line.substring(line.indexOf(':') + 1).trim().split("\\s+");
        for (String v : f) if (Integer.parseInt(v) != id) return false;
        return true;
    }
}
