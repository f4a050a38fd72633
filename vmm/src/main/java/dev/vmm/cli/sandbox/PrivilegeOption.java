package dev.vmm.cli.sandbox;

import dev.vmm.sandbox.PrivilegeDrop;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/**
 * {@code --run-as USER[:GROUP]} and {@code --chroot DIR}, a picocli mixin for run, nbd and img:
 * {@link #drop()} gives up root once everything privileged is open (docs/sandbox.md). The names
 * are resolved at {@link #drop()} time but before any change, so an unknown user is a one-line
 * error and nothing is half-dropped.
 */
public final class PrivilegeOption {
    @Option(names = "--run-as", paramLabel = "USER[:GROUP]",
            description = "Once everything privileged is open, become USER (and GROUP, default the user's own), "
                    + "with no capabilities and no_new_privs (QEMU's -runas).")
    String runAs;

    @Option(names = "--chroot", paramLabel = "DIR",
            description = "Once everything privileged is open, chroot to DIR (before --run-as; QEMU's -chroot).")
    Path chroot;

    private PrivilegeDrop.Target target;

    /**
     * Resolves --run-as now (an unknown user is a one-line {@link IllegalArgumentException}), for a
     * command that creates something before it drops: it refuses before it has created anything.
     */
    public void resolve() {
        if (runAs != null && target == null) target = PrivilegeDrop.resolve(runAs);
    }

    /** Applies --chroot and --run-as if given; an {@link IllegalArgumentException} says why not, in one line. */
    public void drop() {
        if (runAs == null && chroot == null) return;
        resolve();
        ClasspathPreload.beforeDrop(); // the class path may not be readable (or there) afterwards
        try {
            PrivilegeDrop.apply(target, chroot);
        } catch (IllegalStateException e) {
            throw new IllegalArgumentException(e.getMessage(), e); // the commands print these as one line
        }
    }
}
