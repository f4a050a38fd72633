package dev.vmm.control;

import dev.vmm.migration.MigrationSource;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The source's progress line while a migration runs (QEMU shows nothing by default; its HMP
 * {@code info migrate} is a poll). On a terminal one line is rewritten in place four times a
 * second ({@code \r} and erase-to-end-of-line); elsewhere (a log file, a pipe) a plain line is
 * written once a second. The final status line always ends with a newline.
 *
 * <p>When: by default only if stderr is a terminal; the {@code migrate} command's
 * {@code "x-progress": true|false} argument forces it either way (e.g. {@code true} to log
 * progress to a file).
 */
public final class MigrationProgress {
    private MigrationProgress() {}

    /** Whether stderr (fd 2) is a terminal: its /proc link names a tty or pseudo-terminal. */
    public static boolean stderrIsTerminal() {
        try {
            String target = Files.readSymbolicLink(Path.of("/proc/self/fd/2")).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
        } catch (Exception e) {
            return false;
        }
    }

    /** Starts a daemon thread printing {@code src}'s progress to {@code out} until the migration ends. */
    public static Thread start(MigrationSource src, PrintStream out, boolean terminal) {
        return dev.vmm.threads.VmmThreads.start(dev.vmm.threads.ThreadKind.MIGRATION, "migration-progress", () -> {
            long period = terminal ? 250 : 1000;
            try {
                while (!src.status().isFinal()) {
                    String line = src.stats().progressLine();
                    if (terminal) out.print("\r" + line + "\033[K");
                    else out.println(line);
                    out.flush();
                    Thread.sleep(period);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            String last = src.stats().progressLine();
            out.print(terminal ? "\r" + last + "\033[K\n" : last + "\n");
            out.flush();
        });
    }
}
