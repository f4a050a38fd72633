package dev.vmm.it;

import dev.vmm.it.ConsoleWatcher.Milestone;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.StringJoiner;

/**
 * The smoke-test guest: a small Linux kernel built by {@code integration/smoke-kernel/build.sh}
 * (cached under ~/.cache/vmm/smoke-kernel), its root disk and initramfs, the command line that
 * boots it on this host, and the console milestones of a good boot.
 *
 * <p>See docs/smoke-kernel.md for the measured boot times these milestones are checked against.
 */
public final class SmokeKernel {

    /**
     * CPU features a PVM host's instruction emulator cannot execute in guest kernel mode (or
     * that pull in such instructions: xsave → xrstor, smap → clac/stac, cx16 → cmpxchg16b,
     * popcnt). Hiding them makes the kernel choose other code paths.
     */
    public static final String PVM_CLEARCPUID = "clearcpuid=smap,smep,cx16,xsave,popcnt,fsgsbase,pcid,invpcid,"
            + "rdrand,rdseed,avx,avx2,avx512f,bmi1,bmi2,rtm,hle,la57,umip,pku";

    /**
     * The QEMU CPU model for a PVM host. QEMU's default qemu64 says "AuthenticAMD" without
     * XSAVEERPTR, so the guest applies the AMD FXSAVE-leak workaround (fnclex; emms; fild) on
     * every return to user mode, and the PVM emulator cannot execute fnclex: the VM dies with
     * KVM_EXIT_INTERNAL_ERROR at "Run /init". Advertising XSAVEERPTR turns the workaround off.
     * The VMM must do the same if it reports an AMD CPU (docs/smoke-kernel.md, run 3b).
     */
    public static final String PVM_QEMU_CPU = "qemu64,+xsaveerptr";

    /** Root on the first virtio-blk disk, the ext2 image from {@link #makeRootfs}. */
    public static final String ROOT_VDA = "root=/dev/vda rw rootfstype=ext2";

    /** What the image's init prints after "smoke-init: marker " (see make-rootfs.sh). */
    public static final String ROOTFS_MARKER = "vmm-smoke-rootfs-v1";
    /** What the initramfs's init prints after "smoke-init: marker " (see make-initramfs.sh). */
    public static final String INITRAMFS_MARKER = "vmm-smoke-initramfs-v1";

    /** Overrides the build: a directory that already holds vmlinux and bzImage. */
    public static final String PREBUILT_ENV = "VMM_SMOKE_KERNEL_DIR";
    /** Where the scripts are, if not found by walking up from the working directory. */
    public static final String SCRIPTS_PROPERTY = "vmm.smokeKernel.scripts";

    private static final Path PVM_MODULE = Path.of("/sys/module/kvm_pvm");

    private static Path built;

    private SmokeKernel() {
    }

    /**
     * Builds the kernel if needed (several minutes the first time, then a cache hit that costs
     * well under a second) and returns the directory holding {@code vmlinux}, {@code bzImage},
     * {@code config} and {@code System.map}.
     *
     * @throws IllegalStateException if the build fails (the message holds the end of its log)
     */
    public static synchronized Path ensureBuilt() {
        if (built != null) {
            return built;
        }
        String prebuilt = System.getenv(PREBUILT_ENV);
        Path dir = prebuilt != null && !prebuilt.isBlank()
                ? Path.of(prebuilt)
                : Path.of(runScript("build.sh"));
        for (String f : List.of("vmlinux", "bzImage")) {
            if (!Files.isRegularFile(dir.resolve(f))) {
                throw new IllegalStateException("smoke kernel directory " + dir + " has no " + f);
            }
        }
        built = dir;
        return dir;
    }

    public static Path vmlinux() {
        return ensureBuilt().resolve("vmlinux");
    }

    public static Path bzImage() {
        return ensureBuilt().resolve("bzImage");
    }

    /** Makes {@code dir/root.img}: ext2 with /sbin/init and /smoke-marker. */
    public static Path makeRootfs(Path dir) {
        return Path.of(runScript("make-rootfs.sh", dir.resolve("root.img").toString()));
    }

    /** Makes {@code dir/initramfs.cpio.gz}: a newc cpio with /init and /smoke-marker. */
    public static Path makeInitramfs(Path dir) {
        return Path.of(runScript("make-initramfs.sh", dir.resolve("initramfs.cpio.gz").toString()));
    }

    /**
     * True when /dev/kvm is the PVM hypervisor (kvm_pvm loaded): guest kernel code is emulated
     * there, and the emulator lacks instructions that {@link #PVM_CLEARCPUID} steers the kernel
     * away from. Guest user mode also cannot make system calls there, so init cannot run.
     */
    public static boolean hostNeedsPvmWorkarounds() {
        return Files.exists(PVM_MODULE);
    }

    /**
     * The kernel command line for a smoke boot: serial console, no ACPI (its AML interpreter
     * takes minutes when emulated), reboot at once on panic, the PVM CPU-feature workarounds
     * when this host needs them, then {@code extra} (e.g. {@link #ROOT_VDA}).
     */
    public static String defaultCmdline(String... extra) {
        return cmdline(hostNeedsPvmWorkarounds(), extra);
    }

    /** {@link #defaultCmdline} for a given host kind (testable without a PVM host). */
    static String cmdline(boolean pvm, String... extra) {
        StringJoiner j = new StringJoiner(" ");
        j.add("console=ttyS0").add("acpi=off").add("panic=-1");
        if (pvm) {
            j.add(PVM_CLEARCPUID);
        }
        for (String e : extra) {
            if (e != null && !e.isBlank()) {
                j.add(e.strip());
            }
        }
        return j.toString();
    }

    /**
     * How long a smoke test waits for a boot's milestones: {@code -Dvmm.smokeKernel.bootBudgetSeconds},
     * else {@code defaultSeconds}. Guest kernel code is emulated on a PVM host, so a boot slows down
     * roughly in proportion to the host's load; raise it on a busy machine.
     */
    public static java.time.Duration bootBudget(long defaultSeconds) {
        return java.time.Duration.ofSeconds(Long.getLong("vmm.smokeKernel.bootBudgetSeconds", defaultSeconds));
    }

    // --- milestones ---------------------------------------------------------------------------

    public static final Milestone LINUX_VERSION = Milestone.of("Linux version", "Linux version \\d+\\.\\d+");
    public static final Milestone KVM_CLOCK = Milestone.of("kvm-clock", "clocksource: Switched to clocksource kvm-clock|kvm-clock: Using msrs");
    public static final Milestone VIRTIO_BLK = Milestone.of("virtio_blk", "virtio_blk virtio\\d+: .*\\[vda\\]");
    public static final Milestone ROOT_MOUNTED = Milestone.of("VFS: Mounted root", "VFS: Mounted root \\(ext2 filesystem\\)");
    public static final Milestone RUN_SBIN_INIT = Milestone.of("Run /sbin/init", "Run /sbin/init as init process");
    public static final Milestone RUN_INIT = Milestone.of("Run /init", "Run /init as init process");
    public static final Milestone UNPACK_INITRAMFS = Milestone.of("Unpacking initramfs", "Trying to unpack rootfs image as initramfs|Unpacking initramfs");
    /**
     * The last line of a boot on a PVM host, where init cannot make system calls: its first
     * {@code syscall} faults, init dies of SIGSEGV and the kernel panics "Attempted to kill init!".
     */
    public static final Milestone PANIC = Milestone.of("Kernel panic",
            // Not any panic: "No working init found" (init unreadable or corrupted) is not this line
            // (SmokeKernelCorruptInitTest); 0x0b is SIGSEGV, init's faulting first syscall.
            "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b");
    /** init ran (hosts with real hardware virtualisation only). */
    public static final Milestone INIT_RAN = Milestone.of("smoke-init marker", "smoke-init: marker vmm-smoke-");
    /** The end of a boot where init ran: it asks for a reboot. */
    public static final Milestone REBOOT = Milestone.of("reboot", "reboot: Restarting system");

    /**
     * What a good boot from the ext2 root disk prints, in order, on this host: through the
     * panic on a PVM host; through init's marker and reboot elsewhere.
     */
    public static List<Milestone> rootDiskMilestones() {
        List<Milestone> m = new ArrayList<>(List.of(LINUX_VERSION, KVM_CLOCK, VIRTIO_BLK, ROOT_MOUNTED, RUN_SBIN_INIT));
        m.addAll(hostNeedsPvmWorkarounds() ? List.of(PANIC) : List.of(INIT_RAN, REBOOT));
        return List.copyOf(m);
    }

    /** What a good boot from the initramfs (no disk) prints, in order, on this host. */
    public static List<Milestone> initramfsMilestones() {
        List<Milestone> m = new ArrayList<>(List.of(LINUX_VERSION, KVM_CLOCK, UNPACK_INITRAMFS, RUN_INIT));
        m.addAll(hostNeedsPvmWorkarounds() ? List.of(PANIC) : List.of(INIT_RAN, REBOOT));
        return List.copyOf(m);
    }

    // --- running the scripts ------------------------------------------------------------------

    /** The integration/smoke-kernel directory. */
    public static Path scriptsDir() {
        String prop = System.getProperty(SCRIPTS_PROPERTY);
        if (prop != null && !prop.isBlank()) {
            return Path.of(prop);
        }
        // Surefire runs in integration/, an IDE often in the repository root.
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            for (Path candidate : List.of(p.resolve("smoke-kernel"), p.resolve("integration/smoke-kernel"))) {
                if (Files.isRegularFile(candidate.resolve("build.sh"))) {
                    return candidate;
                }
            }
        }
        throw new IllegalStateException("cannot find integration/smoke-kernel/build.sh above "
                + Path.of("").toAbsolutePath() + "; set -D" + SCRIPTS_PROPERTY);
    }

    /**
     * Runs a script with no stdin, echoes its stderr (progress) to System.err, and returns the
     * last line of its stdout, which each of the scripts prints as its result.
     */
    static String runScript(String script, String... args) {
        List<String> cmd = new ArrayList<>(List.of("bash", scriptsDir().resolve(script).toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        Deque<String> tail = new ArrayDeque<>();
        try {
            Process p = pb.start();
            Thread errPump = new Thread(() -> {
                try (BufferedReader r = p.errorReader(StandardCharsets.UTF_8)) {
                    String l;
                    while ((l = r.readLine()) != null) {
                        System.err.println(l);
                        synchronized (tail) {
                            if (tail.size() == 80) {
                                tail.removeFirst();
                            }
                            tail.addLast(l);
                        }
                    }
                } catch (IOException ignored) {
                    // the process is gone
                }
            }, script + "-stderr");
            errPump.setDaemon(true);
            errPump.start();
            String last = null;
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String l;
                while ((l = r.readLine()) != null) {
                    if (!l.isBlank()) {
                        last = l.strip();
                    }
                }
            }
            int rc = p.waitFor();
            errPump.join(5_000);
            if (rc != 0 || last == null) {
                synchronized (tail) {
                    throw new IllegalStateException(script + " " + String.join(" ", args) + " failed (exit " + rc
                            + "):\n" + String.join("\n", tail));
                }
            }
            return last;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + cmd, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running " + script, e);
        }
    }
}
