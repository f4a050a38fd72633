package dev.vmm.cli.sandbox;

import dev.vmm.sandbox.ProcessFilter;
import picocli.CommandLine.Option;

/**
 * {@code --sandbox on|off|strict}, a picocli mixin for the commands that run a sandbox (run, nbd,
 * img): with {@code on}, {@link #enter()} installs the process-wide seccomp filter (docs/sandbox.md).
 *
 * <p>The default depends on the command ({@link #defaultOn()} for {@code vmm img} and {@code vmm nbd},
 * {@link #defaultOff()} for {@code vmm run}): run's becomes on only once the guest test suite has passed
 * with it on a KVM host (no such run has been made).
 */
public final class SandboxOption {
    private final String defaultValue;
    private String value; // a String: picocli rewrites on/off to true/false for boolean fields; null: not given

    /** Off unless {@code --sandbox on|strict} is given ({@code vmm run}). */
    public static SandboxOption defaultOff() { return new SandboxOption("off"); }

    /** On unless {@code --sandbox off} is given ({@code vmm img}, {@code vmm nbd}). */
    public static SandboxOption defaultOn() { return new SandboxOption("on"); }

    /** For picocli, should it ever build the mixin itself: the conservative default. */
    public SandboxOption() { this("off"); }

    private SandboxOption(String defaultValue) { this.defaultValue = defaultValue; }

    // No defaultValue attribute: picocli would call the setter with it; the per-command default is the field's.
    @Option(names = "--sandbox", paramLabel = "on|off|strict", arity = "1", converter = OnOff.class,
            description = "Install the process-wide seccomp filter once everything privileged is open "
                    + "(no exec, fork, ptrace, mount, setuid, module or kexec calls afterwards; see docs/sandbox.md). "
                    + "strict: also a per-thread-kind allow-list on every VMM thread (experimental: most lists are "
                    + "derived from code, not measured; calls outside get EPERM). "
                    + "Default: on for vmm img and vmm nbd, off for vmm run.")
    void value(String v) {
        if (v == null) return;
        value = v;
        // The per-kind filters are installed by each VMM thread as it starts: registered now, while
        // the command line is read, they reach every thread the command starts afterwards.
        if (v.equals("strict")) PerKindStrict.register();
    }

    /** on, off or strict: what was given, else this command's default. */
    public String mode() { return value != null ? value : defaultValue; }

    private boolean on() { return !mode().equals("off"); }

    private boolean entered;

    /** Installs the filter (once per process) when the option is on. */
    public void enter() {
        if (!on() || entered) return;
        ProcessFilter.install();
        entered = true;
    }

    /** Registers the per-kind allow-lists once per process (ENFORCE: EPERM outside the list). */
    static final class PerKindStrict {
        private static boolean registered;

        static synchronized void register() {
            if (registered) return;
            dev.vmm.sandbox.PerKindAllowLists.filters().register(dev.vmm.sandbox.ThreadKindFilters.Mode.ENFORCE);
            registered = true;
        }
    }

    /** on|off|strict, as QEMU writes its switches. */
    public static final class OnOff implements picocli.CommandLine.ITypeConverter<String> {
        @Override
        public String convert(String v) {
            return switch (v) {
                case "on", "off", "strict" -> v;
                default -> throw new picocli.CommandLine.TypeConversionException("expected on, off or strict, not '" + v + "'");
            };
        }
    }
}
