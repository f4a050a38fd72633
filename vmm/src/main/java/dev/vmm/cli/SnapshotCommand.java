package dev.vmm.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Unmatched;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code vmm snapshot save|restore}: snapshots of running machines, through their QMP socket. */
@Command(name = "snapshot", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = "Save a running machine to a file, or start a machine from one.",
        subcommands = {SnapshotCommand.Save.class, SnapshotCommand.Restore.class})
public final class SnapshotCommand {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Command(name = "save", mixinStandardHelpOptions = true, description = "Pause the machine behind a QMP socket and save it to FILE.")
    static final class Save implements Callable<Integer> {
        @Option(names = "--qmp", required = true, paramLabel = "unix:PATH", description = "The machine's QMP socket.")
        String qmp;

        @Option(names = "--then", paramLabel = "pause|cont|quit", defaultValue = "pause",
                description = "What the machine does after the save (default: ${DEFAULT-VALUE}).")
        String then;

        @Parameters(paramLabel = "FILE")
        Path file;

        @Override
        public Integer call() throws IOException {
            if (!qmp.startsWith("unix:")) throw new UsageException("--qmp takes unix:PATH");
            if (!List.of("pause", "cont", "quit").contains(then)) throw new UsageException("--then takes pause, cont or quit");
            try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                ch.connect(UnixDomainSocketAddress.of(qmp.substring(5)));
                BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8));
                OutputStream out = Channels.newOutputStream(ch);
                in.readLine(); // greeting
                call(in, out, Map.of("execute", "qmp_capabilities"));
                call(in, out, Map.of("execute", "x-vmm-snapshot-save", "arguments", Map.of("file", file.toAbsolutePath().toString())));
                if (!then.equals("pause")) call(in, out, Map.of("execute", then));
            } catch (java.net.SocketException | java.nio.file.NoSuchFileException e) {
                throw new UsageException("cannot reach the QMP socket " + qmp.substring(5) + ": " + e.getMessage());
            }
            System.err.println("vmm: saved snapshot to " + file);
            return 0;
        }

        private static void call(BufferedReader in, OutputStream out, Map<String, ?> req) throws IOException {
            out.write((JSON.writeValueAsString(req) + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            while (true) {
                String line = in.readLine();
                if (line == null) throw new IOException("the VMM closed the QMP connection");
                JsonNode n = JSON.readTree(line);
                if (n.has("event")) continue;
                if (n.has("error")) throw new UsageException(req.get("execute") + ": " + n.at("/error/desc").asText());
                return;
            }
        }
    }

    @Command(name = "restore", mixinStandardHelpOptions = true,
            description = "Start a machine from FILE; other options are those of 'vmm run' (e.g. --serial, --qmp).")
    static final class Restore implements Callable<Integer> {
        @Parameters(paramLabel = "FILE")
        Path file;

        @Unmatched
        List<String> runOptions = new ArrayList<>();

        @Override
        public Integer call() {
            List<String> args = new ArrayList<>(List.of("run", "--restore", file.toString()));
            args.addAll(runOptions);
            return dev.vmm.Main.run(args.toArray(String[]::new));
        }
    }
}
