package dev.vmm.cli.nbd;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.BlockException;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import dev.vmm.block.nbd.NbdExport;
import dev.vmm.block.nbd.NbdServer;
import dev.vmm.block.nbd.tls.X509Credentials;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * {@code vmm nbd}: serves a disk image over NBD, like qemu-nbd. Runs in the foreground (no --fork:
 * systemd and shells manage it); SIGTERM/SIGINT flush the image and close it (shutdown hook).
 */
@Command(name = "nbd", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Export a disk image over the Network Block Device protocol (like qemu-nbd).")
public final class NbdCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Option(names = {"-b", "--bind"}, paramLabel = "ADDR", defaultValue = "0.0.0.0", description = "address to listen on (default: ${DEFAULT-VALUE})") String bind;
    @Option(names = {"-p", "--port"}, paramLabel = "N", defaultValue = "10809", description = "TCP port (default: ${DEFAULT-VALUE}; 0 picks a free one, printed on stdout)") int port;
    @Option(names = {"-k", "--socket"}, paramLabel = "PATH", description = "listen on a UNIX socket instead of TCP") Path socket;
    @Option(names = {"-x", "--export-name"}, paramLabel = "NAME", defaultValue = "", description = "export name (default: empty)") String exportName;
    @Option(names = {"-D", "--description"}, paramLabel = "TEXT", description = "export description") String description;
    @Option(names = {"-r", "--read-only"}, description = "export read-only") boolean readOnly;
    @Option(names = {"-e", "--shared"}, paramLabel = "N", defaultValue = "1", description = "clients served at once (default: ${DEFAULT-VALUE})") int shared;
    @Option(names = {"-t", "--persistent"}, description = "keep serving after the last client disconnects") boolean persistent;
    @Option(names = {"-f", "--format"}, paramLabel = "FMT", description = "raw, qcow2, vhdx or vpc (default: probed; vhdx and vpc read-only)") String format;
    @Option(names = "--cache", paramLabel = "MODE", defaultValue = "writeback", description = "none, writeback, writethrough, directsync or unsafe (default: ${DEFAULT-VALUE})") String cache;
    @Option(names = "--discard", paramLabel = "ignore|unmap", defaultValue = "ignore", description = "unmap: trims release storage (default: ${DEFAULT-VALUE})") String discard;
    @Option(names = {"-A", "--allocation-depth"}, description = "offer the qemu:allocation-depth metadata context") boolean allocationDepth;
    @Option(names = "--pid-file", paramLabel = "PATH", description = "write the process id here once listening") Path pidFile;
    @Option(names = "--tls-creds", paramLabel = "DIR", description = "require TLS, with X.509 credentials from DIR laid out as QEMU's tls-creds-x509 (ca-cert.pem, server-cert.pem, server-key.pem)") Path tlsCreds;
    @Option(names = "--tls-verify-peer", paramLabel = "on|off", defaultValue = "on", description = "require a client certificate signed by ca-cert.pem (default: ${DEFAULT-VALUE}, as QEMU's verify-peer)") String tlsVerifyPeer;
    @Parameters(index = "0", paramLabel = "IMAGE") Path image;
    @picocli.CommandLine.Mixin dev.vmm.cli.sandbox.SandboxOption sandbox = dev.vmm.cli.sandbox.SandboxOption.defaultOn();
    @picocli.CommandLine.Mixin dev.vmm.cli.sandbox.PrivilegeOption privileges = new dev.vmm.cli.sandbox.PrivilegeOption();

    @Override
    public Integer call() {
        PrintWriter err = spec.commandLine().getErr();
        try {
            return serve();
        } catch (BlockException | IllegalArgumentException | IOException e) {
            err.println("vmm nbd: " + e.getMessage());
            err.flush();
            return 1;
        }
    }

    private int serve() throws IOException {
        if (!Set.of("on", "off", "yes", "no", "true", "false").contains(tlsVerifyPeer)) throw new IllegalArgumentException("--tls-verify-peer must be on or off");
        // Credentials before the image: a bad directory must not leave the image locked for nothing.
        X509Credentials tls = tlsCreds == null ? null
                : X509Credentials.load(tlsCreds, X509Credentials.Endpoint.SERVER, Set.of("on", "yes", "true").contains(tlsVerifyPeer));
        if (!Set.of("none", "writeback", "writethrough", "directsync", "unsafe").contains(cache)) {
            throw new IllegalArgumentException("--cache must be none, writeback, writethrough, directsync or unsafe");
        }
        if (!Set.of("ignore", "unmap", "off", "on").contains(discard)) throw new IllegalArgumentException("--discard must be ignore or unmap");
        if (shared < 1 || shared > 1024) throw new IllegalArgumentException("--shared must be 1..1024");
        if (port < 0 || port > 65535) throw new IllegalArgumentException("--port must be 0..65535");
        ImageFormat f = format == null ? null : ImageFormat.byName(format);
        Images.Options o = (readOnly ? Images.Options.readOnlyDefaults() : Images.Options.readWriteDefaults()).withFormat(f);
        BlockDevice disk = Images.open(image, o);
        boolean writeThrough = cache.equals("writethrough") || cache.equals("directsync");
        NbdExport export = new NbdExport(exportName, description, disk, readOnly,
                discard.equals("unmap") || discard.equals("on"), allocationDepth, writeThrough, !cache.equals("unsafe"));
        SocketAddress addr = socket != null ? UnixDomainSocketAddress.of(socket) : new InetSocketAddress(bind, port);
        PrintWriter err = spec.commandLine().getErr();
        NbdServer server;
        try {
            server = new NbdServer(addr, export, tls, shared, persistent, msg -> {
                synchronized (err) {
                    err.println("vmm nbd: " + msg);
                    err.flush();
                }
            });
        } catch (IOException e) {
            disk.close();
            throw new IOException("cannot listen on " + (socket != null ? socket : bind + ":" + port) + ": " + e.getMessage(), e);
        }
        // Opened before the drop (the path may be out of reach after --chroot/--run-as), filled after.
        java.nio.channels.FileChannel pid = pidFile == null ? null : java.nio.channels.FileChannel.open(pidFile,
                java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE, java.nio.file.StandardOpenOption.TRUNCATE_EXISTING);
        try {
            privileges.drop(); // --chroot, --run-as: the image is open and the socket listens
        } catch (IllegalArgumentException e) {
            server.close();
            disk.close();
            throw e;
        }
        sandbox.enter(); // --sandbox on: the image is open and the socket listens
        AtomicBoolean closed = new AtomicBoolean();
        Runnable shutdown = () -> {
            if (!closed.compareAndSet(false, true)) return;
            server.close();
            try {
                disk.close(); // flushes a writable image
            } catch (BlockException e) {
                synchronized (err) {
                    err.println("vmm nbd: " + e.getMessage());
                    err.flush();
                }
            }
            if (pidFile != null) {
                try { Files.deleteIfExists(pidFile); } catch (IOException ignored) { /* best effort */ }
            }
        };
        Thread hook = new Thread(shutdown, "vmm-nbd-shutdown");
        Runtime.getRuntime().addShutdownHook(hook); // SIGTERM, SIGINT: flush and close the image
        if (pid != null) {
            try (pid) {
                pid.write(java.nio.ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII)));
            }
        }
        if (port == 0 && socket == null) {
            PrintWriter out = spec.commandLine().getOut();
            out.println(((InetSocketAddress) server.address()).getPort());
            out.flush();
        }
        try {
            server.serve();
        } finally {
            shutdown.run();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException ignored) {
                // already shutting down: the hook runs (and finds the work done)
            }
        }
        return 0;
    }

}
