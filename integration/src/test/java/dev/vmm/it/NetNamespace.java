package dev.vmm.it;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A private network namespace for a test ({@code ip netns add}), deleted with everything in it
 * (taps, bridges, veths) by {@link #close()}. Processes run inside it with {@link #command}; the
 * guest's traffic never reaches the host's own interfaces.
 */
public final class NetNamespace implements AutoCloseable {
    private static final AtomicInteger SEQ = new AtomicInteger();

    private final String name;

    private NetNamespace(String name) {
        this.name = name;
    }

    /** Whether namespaces can be made here: root (CAP_SYS_ADMIN), iproute2, /dev/net/tun. */
    public static boolean usable() {
        if (!Files.isWritable(Path.of("/dev/net/tun"))) return false;
        try {
            run(List.of("ip", "netns", "list"));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Creates {@code <prefix><pid>x<n>} with loopback up and IPv6 off (no router solicitations). */
    public static NetNamespace create(String prefix) throws IOException {
        String n = prefix + ProcessHandle.current().pid() + "x" + SEQ.incrementAndGet();
        run(List.of("ip", "netns", "add", n));
        NetNamespace ns = new NetNamespace(n);
        try {
            ns.ip("link", "set", "lo", "up");
            ns.exec("sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1");
        } catch (IOException e) {
            ns.close();
            throw e;
        }
        return ns;
    }

    public String name() {
        return name;
    }

    /** {@code ip netns exec NAME} + cmd, for a ProcessBuilder. */
    public List<String> command(List<String> cmd) {
        List<String> c = new ArrayList<>(List.of("ip", "netns", "exec", name));
        c.addAll(cmd);
        return c;
    }

    /** Runs {@code ip -n NAME args...}; throws with its output when it fails. */
    public String ip(String... args) throws IOException {
        List<String> c = new ArrayList<>(List.of("ip", "-n", name));
        c.addAll(List.of(args));
        return run(c);
    }

    /** Runs a command inside the namespace; throws with its output when it fails. */
    public String exec(String... cmd) throws IOException {
        return run(command(List.of(cmd)));
    }

    /** Deletes the namespace and every interface in it (never throws). */
    @Override
    public void close() {
        try {
            run(List.of("ip", "netns", "del", name));
        } catch (IOException e) {
            System.err.println("NetNamespace: " + e.getMessage());
        }
    }

    static String run(List<String> cmd) throws IOException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        try {
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", cmd) + ": timed out");
            }
            if (p.exitValue() != 0) {
                throw new IOException(String.join(" ", cmd) + " failed (" + p.exitValue() + "): " + out.strip());
            }
            return out;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted: " + String.join(" ", cmd), e);
        }
    }
}
