package dev.vmm.cli.sandbox;

import dev.vmm.sandbox.ProcessFilter;
import picocli.CommandLine.Option;

/**
 * {@code --sandbox on|off}, a picocli mixin for the commands that run a sandbox (run, nbd): with
 * {@code on}, {@link #enter()} installs the process-wide seccomp filter (docs/sandbox.md).
 *
 * <p>Default off for now: it becomes on only once the guest test suite has passed with it on a KVM
 * host (no such run has been made).
 */
public final class SandboxOption {
    @Option(names = "--sandbox", paramLabel = "on|off", arity = "1", defaultValue = "off", converter = OnOff.class,
            description = "Install the process-wide seccomp filter once everything privileged is open "
                    + "(no exec, fork, ptrace, mount, setuid, module or kexec calls afterwards; see docs/sandbox.md). "
                    + "Default: ${DEFAULT-VALUE}.")
    String value; // a String: picocli rewrites on/off to true/false for boolean fields

    private boolean on() { return value.equals("on"); }

    private boolean entered;

    /** Installs the filter (once per process) when the option is on. */
    public void enter() {
        if (!on() || entered) return;
        ProcessFilter.install();
        entered = true;
    }

    /** on|off, as QEMU writes its switches. */
    public static final class OnOff implements picocli.CommandLine.ITypeConverter<String> {
        @Override
        public String convert(String v) {
            return switch (v) {
                case "on", "off" -> v;
                default -> throw new picocli.CommandLine.TypeConversionException("expected on or off, not '" + v + "'");
            };
        }
    }
}
