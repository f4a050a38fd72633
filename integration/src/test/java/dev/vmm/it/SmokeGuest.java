package dev.vmm.it;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.it.ConsoleWatcher.Milestone;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.StringJoiner;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * One run of the smoke kernel with the guest-test initramfs ({@code make-guest-initramfs.sh}:
 * busybox, {@code smoketest=NAME} picks what its /init does) under QEMU (TCG: the reference half
 * of each guest test, runs on any host) or under our VMM (needs /dev/kvm): the process, its
 * console ({@link ConsoleWatcher}) and its QMP socket. ACPI stays on (the hot-plug, power-button
 * and pvpanic paths need it), unlike {@link SmokeKernel#defaultCmdline}.
 */
final class SmokeGuest implements AutoCloseable {
    /** QEMU half's budget for a TCG boot to init (a loaded 2-core host: see docs/smoke-kernel.md). */
    static final Duration BOOT_BUDGET = SmokeKernel.bootBudget(900);
    /** How long a guest gets to react to one QMP action (hot-plug, power button). */
    static final Duration STEP_BUDGET = Duration.ofMinutes(3);

    private final Process process;
    private final ConsoleWatcher console;
    private final Path qmpSocket;
    private QmpTest.Client qmp;

    private SmokeGuest(Process process, ConsoleWatcher console, Path qmpSocket) {
        this.process = process;
        this.console = console;
        this.qmpSocket = qmpSocket;
    }

    /** A milestone printed by the guest-test init ("smoke-guest: ..."). */
    static Milestone said(String name, String regex) {
        return Milestone.of(name, "smoke-guest: " + regex);
    }

    /** Makes {@code dir/guest-initramfs.cpio.gz}. */
    static Path initramfs(Path dir) {
        return Path.of(SmokeKernel.runScript("make-guest-initramfs.sh", dir.resolve("guest-initramfs.cpio.gz").toString()));
    }

    /**
     * The kernel command line: serial console, ACPI on, {@code smoketest=test}, then {@code extra}.
     * No PVM workarounds: the VMM halves do not run on a PVM host ({@link #needVmmGuestUserSpace}).
     */
    static String cmdline(String test, String... extra) {
        StringJoiner j = new StringJoiner(" ");
        j.add("console=ttyS0").add("smoketest=" + test);
        for (String e : extra) j.add(e);
        return j.toString();
    }

    /** Skips a QEMU half where qemu-system-x86_64 is missing. */
    static Path needQemu() {
        Optional<Path> q = Qemu.find();
        assumeTrue(q.isPresent(), "qemu-system-x86_64 is not installed");
        return q.get();
    }

    /** Skips a VMM half where it cannot run: no /dev/kvm, or a PVM host (guest user mode cannot make system calls there). */
    static void needVmmGuestUserSpace() {
        GuestNeeds.kvm();
        GuestNeeds.notOnPvmHost("a PVM host: guest user mode cannot make system calls (docs/smoke-kernel.md run 3b), the busybox init cannot run");
    }

    /**
     * QEMU with TCG: {@code -M machine -smp smp}, no default devices, COM1 on stdout, QMP on
     * {@link #qmpSocket}, the smoke kernel with {@code initrd} and {@code cmdline}, then {@code extra}.
     */
    static SmokeGuest qemu(Path dir, String machine, String smp, Path initrd, String cmdline, List<String> extra) throws Exception {
        return start(qemuCommand(dir, machine, smp, initrd, cmdline, extra), qmpSocket(dir, "qemu"));
    }

    static List<String> qemuCommand(Path dir, String machine, String smp, Path initrd, String cmdline, List<String> extra) {
        List<String> cmd = new ArrayList<>(List.of(needQemu().toString(), "-M", machine, "-accel", "tcg", "-m", "256",
                "-smp", smp, "-nodefaults", "-no-reboot", "-display", "none", "-serial", "stdio", "-monitor", "none",
                "-qmp", "unix:" + qmpSocket(dir, "qemu") + ",server=on,wait=off",
                "-kernel", SmokeKernel.vmlinux().toString(), "-initrd", initrd.toString(), "-append", cmdline));
        cmd.addAll(extra);
        return cmd;
    }

    /** Our VMM: {@code vmm run} with the smoke kernel, {@code initrd}, {@code cmdline}, QMP on {@link #qmpSocket}, then {@code extra}. */
    static SmokeGuest vmm(Path dir, Path initrd, String cmdline, List<String> extra) throws Exception {
        return start(vmmCommand(dir, initrd, cmdline, extra), qmpSocket(dir, "vmm"));
    }

    static List<String> vmmCommand(Path dir, Path initrd, String cmdline, List<String> extra) {
        List<String> cmd = new ArrayList<>(List.of(Vmm.binary().toString(), "run", "--kernel", SmokeKernel.vmlinux().toString(),
                "--initrd", initrd.toString(), "--memory", "256M", "--cmdline", cmdline, "--qmp", "unix:" + qmpSocket(dir, "vmm")));
        cmd.addAll(extra);
        return cmd;
    }

    /** Where {@code who} ("qemu", "vmm") listens for QMP. */
    static Path qmpSocket(Path dir, String who) {
        return dir.resolve(who + "-qmp.sock");
    }

    /** Runs {@code cmd} (stdout and stderr to the console watcher). */
    static SmokeGuest start(List<String> cmd, Path sock) throws Exception {
        System.out.println("starting: " + String.join(" ", cmd));
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        return new SmokeGuest(p, ConsoleWatcher.watch(p.getInputStream(), t0, null), sock);
    }

    Process process() {
        return process;
    }

    /** Waits for the milestones, in order; fails with the console's tail if one is missing. */
    ConsoleWatcher.Result expect(Duration budget, Milestone... milestones) throws InterruptedException {
        ConsoleWatcher.Result r = console.await(budget, milestones);
        if (!r.allSeen() || !r.inOrder()) {
            throw new AssertionError("console milestones (all, in order):\n" + r.describe(60));
        }
        return r;
    }

    /** The console's last lines, for assertion messages. */
    String tail() {
        List<ConsoleWatcher.Line> t = console.transcript();
        StringJoiner j = new StringJoiner("\n");
        t.subList(Math.max(0, t.size() - 60), t.size()).forEach(l -> j.add(l.text()));
        return j.toString();
    }

    /** The QMP connection, negotiated on first use. */
    QmpTest.Client qmp() throws Exception {
        if (qmp == null) {
            Waits.waitFor(() -> Files.exists(qmpSocket) || !process.isAlive(), 60, "the QMP socket " + qmpSocket);
            qmp = new QmpTest.Client(qmpSocket);
            qmp.read();
            ok(qmp.execute("qmp_capabilities"));
        }
        return qmp;
    }

    /** Runs a QMP command that must succeed and returns its {@code return}. */
    JsonNode ok(String command, String arguments) throws Exception {
        return ok(qmp().execute(command, arguments));
    }

    private static JsonNode ok(JsonNode reply) {
        if (!reply.has("return")) throw new AssertionError("QMP error: " + reply);
        return reply.get("return");
    }

    /**
     * The first event named {@code name} (collected earlier or read now); bounded by the test's
     * {@code @Timeout} and by the process: a closed socket ends the wait with an error.
     */
    JsonNode event(String name) throws Exception {
        QmpTest.Client c = qmp();
        while (true) {
            for (JsonNode e : c.events) {
                if (e.path("event").asText().equals(name)) return e;
            }
            String line = c.in.readLine();
            if (line == null) throw new AssertionError("QMP closed before event " + name + "; events " + c.events + "\n" + tail());
            JsonNode n = new com.fasterxml.jackson.databind.ObjectMapper().readTree(line);
            if (n.has("event")) c.events.add(n);
        }
    }

    /** Waits for the process to end by itself; returns its status. */
    int exitStatus(Duration budget) throws Exception {
        if (!process.waitFor(budget.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AssertionError("still running after " + budget.toSeconds() + " s:\n" + tail());
        }
        return process.exitValue();
    }

    @Override
    public void close() throws Exception {
        try {
            if (qmp != null) qmp.close();
        } catch (Exception ignored) {
            // the process may have ended already
        } finally {
            process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            console.close();
        }
    }
}
