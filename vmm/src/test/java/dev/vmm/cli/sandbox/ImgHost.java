package dev.vmm.cli.sandbox;

import dev.vmm.cli.img.ImgCommand;
import picocli.CommandLine;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * {@code vmm img} commands run in a child JVM, one after another, exactly as the in-process tests ran
 * them ({@code new CommandLine(new ImgCommand())} with captured out/err) but with the default
 * {@code --sandbox on}: the first command that opens an image installs the seccomp filter in the
 * child, where it stays. The test JVM keeps no filter, so it can go on starting qemu-img to compare.
 *
 * <p>Protocol over the child's stdin/stdout: the parent writes the argument count and the arguments,
 * the child answers exit status, stdout and stderr. The child's own System.out goes to its stderr
 * (a log file), so nothing a command prints can break the protocol. At EOF on stdin the child exits.
 */
public final class ImgHost implements AutoCloseable {
    /** What a command returned and printed. */
    public record Run(int exit, String out, String err) { }

    private static ImgHost shared;

    private final Process process;
    private final Path log;
    private final DataOutputStream toChild;
    private final DataInputStream fromChild;

    /** Starts a child JVM on this test class path. */
    public ImgHost() throws IOException {
        log = Files.createTempFile("img-host", ".log");
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-Xmx512m",
                "-cp", System.getProperty("java.class.path"), ImgHost.class.getName());
        process = new ProcessBuilder(cmd).redirectError(log.toFile()).start();
        toChild = new DataOutputStream(new BufferedOutputStream(process.getOutputStream()));
        fromChild = new DataInputStream(new BufferedInputStream(process.getInputStream()));
    }

    /** One host for the whole test JVM (started on first use; restarted if it died). */
    public static synchronized Run img(String... args) {
        try {
            if (shared == null || !shared.process.isAlive()) shared = new ImgHost();
            return shared.run(args);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    /** Runs {@code vmm img ARGS} in the child; an AssertionError with the child's log if it died. */
    public synchronized Run run(String... args) {
        try {
            toChild.writeInt(args.length);
            for (String a : args) writeString(toChild, a);
            toChild.flush();
            int exit = fromChild.readInt();
            return new Run(exit, readString(fromChild), readString(fromChild));
        } catch (IOException e) {
            throw died("vmm img " + String.join(" ", args), e);
        }
    }

    public long pid() { return process.pid(); }

    /** The {@code Seccomp:} field of every thread of the child, read from outside through /proc. */
    public List<String> seccompOfEveryThread() throws IOException {
        List<String> modes = new ArrayList<>();
        try (Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(pid()), "task"))) {
            for (Path t : tasks.toList()) {
                try {
                    for (String l : Files.readAllLines(t.resolve("status")))
                        if (l.startsWith("Seccomp:")) modes.add(l.substring(8).trim());
                } catch (java.nio.file.NoSuchFileException threadEnded) {
                    // a short-lived JVM thread that ended between the listing and the read
                }
            }
        }
        return modes;
    }

    private AssertionError died(String what, IOException e) {
        String status;
        try {
            status = process.waitFor(10, TimeUnit.SECONDS) ? "exit status " + process.exitValue() : "still running";
            status += "; its log:\n" + Files.readString(log);
        } catch (IOException | InterruptedException other) {
            status = other.toString();
        }
        return new AssertionError(what + ": the child JVM stopped answering (" + status + ")", e);
    }

    @Override
    public void close() throws IOException, InterruptedException {
        toChild.close();
        if (!process.waitFor(30, TimeUnit.SECONDS)) process.destroyForcibly().waitFor();
        Files.deleteIfExists(log);
    }

    private static void writeString(DataOutputStream out, String s) throws IOException {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        out.writeInt(b.length);
        out.write(b);
    }

    private static String readString(DataInputStream in) throws IOException {
        byte[] b = new byte[in.readInt()];
        in.readFully(b);
        return new String(b, StandardCharsets.UTF_8);
    }

    /** The child: runs each command it is sent, answers, exits at EOF. */
    public static void main(String[] ignored) throws IOException {
        DataInputStream in = new DataInputStream(new BufferedInputStream(new FileInputStream(FileDescriptor.in)));
        DataOutputStream out = new DataOutputStream(new BufferedOutputStream(new FileOutputStream(FileDescriptor.out)));
        System.setOut(System.err);
        while (true) {
            int n;
            try {
                n = in.readInt();
            } catch (EOFException parentDone) {
                return;
            }
            String[] args = new String[n];
            for (int i = 0; i < n; i++) args[i] = readString(in);
            StringWriter o = new StringWriter(), e = new StringWriter();
            CommandLine cl = new CommandLine(new ImgCommand());
            cl.setOut(new PrintWriter(o));
            cl.setErr(new PrintWriter(e));
            int rc = cl.execute(args);
            out.writeInt(rc);
            writeString(out, o.toString());
            writeString(out, e.toString());
            out.flush();
        }
    }
}
