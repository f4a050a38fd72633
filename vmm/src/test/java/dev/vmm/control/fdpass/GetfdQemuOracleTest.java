package dev.vmm.control.fdpass;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vmm.control.QmpServer;
import dev.vmm.control.netdev.NetdevCommands;
import dev.vmm.control.netdev.Netdevs;
import dev.vmm.ffm.libc.Libc;
import dev.vmm.virtio.net.tap.Tap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * QMP {@code getfd}/{@code closefd} and {@code netdev_add} {@code "fd"}/{@code "fds"} (libvirt's tap
 * passing) against QEMU 7.2: the same script — commands sent with and without a file descriptor
 * attached by SCM_RIGHTS (a pipe's read end, or a real tap) — to {@code qemu-system-x86_64
 * -machine none} and to our server over a real unix socket; every answer must be equal (fd numbers
 * in messages masked: they are each process's own).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GetfdQemuOracleTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    /** A QMP client on a raw socket: commands may carry fds. */
    static final class Client implements AutoCloseable {
        private final int fd;
        private final FdStreams streams;
        private final BufferedReader in;

        Client(Path socket) throws IOException {
            fd = connect(socket);
            streams = new FdStreams(fd);
            in = new BufferedReader(new InputStreamReader(streams.in(), StandardCharsets.UTF_8));
            in.readLine(); // greeting
            execute("qmp_capabilities", null);
        }

        /** Connects, retrying while the server has bound its socket but is not listening yet (QEMU), within 20 s. */
        private static int connect(Path socket) throws IOException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (true) {
                try {
                    return UnixSockets.connect(socket);
                } catch (IOException e) {
                    if (System.nanoTime() > deadline) throw e;
                    java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
                }
            }
        }

        JsonNode execute(String command, String args, int... fds) throws IOException {
            String line = "{\"execute\": \"" + command + "\"" + (args == null ? "" : ", \"arguments\": " + args) + "}\n";
            UnixSockets.send(fd, line.getBytes(StandardCharsets.UTF_8), fds);
            while (true) {
                String reply = in.readLine();
                if (reply == null) throw new IOException("server closed QMP");
                JsonNode r = JSON.readTree(reply);
                if (r.has("return") || r.has("error")) return r;
            }
        }

        @Override
        public void close() {
            streams.close();
        }
    }

    /** The script; {@code tapFd} is a real tap's fd or -1. Answers as text, fd numbers masked. */
    private static List<String> script(Client c, int tapFd) throws IOException {
        List<String> out = new ArrayList<>();
        int[] pipe = pipe();
        try {
            out.add(c.execute("getfd", "{\"fdname\": \"p1\"}").toString());                          // no fd attached
            out.add(c.execute("getfd", "{\"fdname\": \"p1\"}", pipe[0]).toString());
            out.add(c.execute("getfd", "{\"fdname\": \"p1\"}", pipe[0]).toString());                // replaces (closes the first)
            out.add(c.execute("getfd", "{\"fdname\": \"9lives\"}", pipe[0]).toString());
            out.add(c.execute("getfd", "{\"fdname\": 5}", pipe[0]).toString());
            out.add(c.execute("getfd", "{}").toString());
            out.add(c.execute("closefd", "{\"fdname\": \"nope\"}").toString());
            out.add(c.execute("closefd", "{\"fdname\": \"p1\"}").toString());
            out.add(c.execute("closefd", "{\"fdname\": \"p1\"}").toString());
            out.add(c.execute("getfd", "{\"fdname\": \"p2\"}", pipe[0]).toString());
            out.add(c.execute("netdev_add", "{\"type\": \"tap\", \"id\": \"n1\", \"fd\": \"missing\"}").toString());
            out.add(c.execute("netdev_add", "{\"type\": \"tap\", \"id\": \"n1\", \"fd\": \"p2\", \"ifname\": \"x\"}").toString());
            out.add(c.execute("netdev_add", "{\"type\": \"tap\", \"id\": \"n1\", \"fds\": \"p2\", \"queues\": 1}").toString());
            out.add(c.execute("netdev_add", "{\"type\": \"tap\", \"id\": \"n1\", \"fd\": \"p2\"}").toString());       // a pipe: not a tap
            out.add(c.execute("closefd", "{\"fdname\": \"p2\"}").toString());                          // taken by the attempt
            out.add(c.execute("getfd", "{\"fdname\": \"p3\"}", pipe[0]).toString());
            out.add(c.execute("netdev_add", "{\"type\": \"tap\", \"id\": \"n1\", \"fds\": \"p3:gone\"}").toString());
            out.add(c.execute("closefd", "{\"fdname\": \"p3\"}").toString());
            if (tapFd >= 0) {
                out.add(c.execute("getfd", "{\"fdname\": \"tap0\"}", tapFd).toString());
                out.add(c.execute("netdev_add", "{\"type\": \"tap\", \"id\": \"n2\", \"fd\": \"tap0\"}").toString());
                out.add(c.execute("closefd", "{\"fdname\": \"tap0\"}").toString());                   // the netdev has it
                out.add(c.execute("netdev_del", "{\"id\": \"n2\"}").toString());
            }
        } finally {
            Libc.close(pipe[0]);
            Libc.close(pipe[1]);
        }
        out.replaceAll(s -> s.replaceAll("FD \\d+", "FD N"));
        return out;
    }

    private static int[] pipe() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment fds = a.allocate(8, 4);
            long r = Libc.syscallRaw(22, fds.address(), 0, 0, 0, 0, 0); // pipe(2)
            if (r < 0) throw new IllegalStateException("pipe: " + Libc.strerror((int) -r));
            return new int[] {fds.get(ValueLayout.JAVA_INT, 0), fds.get(ValueLayout.JAVA_INT, 4)};
        }
    }

    @Test
    void answersEqualQemus() throws Exception {
        String exe = Stream.of(System.getenv().getOrDefault("PATH", "/usr/bin").split(":"))
                .map(d -> Path.of(d, "qemu-system-x86_64")).filter(Files::isExecutable).findFirst().map(Path::toString).orElse(null);
        assumeTrue(exe != null, "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");
        // A real tap when this host lets us create one (root with /dev/net/tun); the pipe cases run either way.
        Tap tap = null;
        try {
            tap = Tap.open("vmmgetfd" + (ProcessHandle.current().pid() % 10000), 1);
        } catch (RuntimeException e) { // TapException: no CAP_NET_ADMIN or no /dev/net/tun
            System.err.println("GetfdQemuOracleTest: no tap (" + e.getMessage() + "): the real-tap part is skipped");
        }
        try {
            Path qemuSock = dir.resolve("qemu.sock");
            Process qemu = new ProcessBuilder(exe, "-machine", "none", "-nodefaults", "-display", "none", "-S",
                    "-qmp", "unix:" + qemuSock + ",server=on,wait=off").redirectErrorStream(true)
                    .redirectOutput(dir.resolve("qemu.log").toFile()).start();
            List<String> theirs;
            try {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (!Files.exists(qemuSock)) {
                    if (System.nanoTime() > deadline || !qemu.isAlive()) throw new AssertionError("QEMU's QMP socket: " + Files.readString(dir.resolve("qemu.log")));
                    java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
                }
                try (Client c = new Client(qemuSock)) {
                    theirs = script(c, tap == null ? -1 : tap.fd(0));
                }
            } finally {
                qemu.destroy();
                qemu.waitFor(10, TimeUnit.SECONDS);
            }
            List<String> ours;
            try (QmpServer server = new QmpServer(dir.resolve("vmm.sock"), "test")) {
                Netdevs netdevs = new Netdevs();
                NetdevCommands.install(server, netdevs, NamedFds.install(server));
                server.start();
                try (Client c = new Client(server.path())) {
                    ours = script(c, tap == null ? -1 : tap.fd(0));
                } finally {
                    netdevs.closeAll();
                }
            }
            assertThat(ours).as("ours").isEqualTo(theirs);
            assertThat(theirs.get(1)).isEqualTo("{\"return\":{}}");
        } finally {
            if (tap != null) tap.close();
        }
    }
}
