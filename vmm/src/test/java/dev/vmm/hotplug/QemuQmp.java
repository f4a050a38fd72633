package dev.vmm.hotplug;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** QEMU 7.2 (TCG, stopped) with QMP on stdio: the oracle asked at test time. */
final class QemuQmp implements AutoCloseable {
    private final Process process;
    private final BufferedReader in;
    private final OutputStream out;

    QemuQmp(List<String> machineAndDevices) throws IOException {
        String exe = Stream.of(System.getenv().getOrDefault("PATH", "/usr/bin").split(":"))
                .map(d -> Path.of(d, "qemu-system-x86_64")).filter(Files::isExecutable).findFirst().map(Path::toString).orElse(null);
        assumeTrue(exe != null, "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");
        List<String> cmd = new ArrayList<>(List.of(exe, "-S", "-m", "256", "-nodefaults", "-display", "none", "-qmp", "stdio"));
        cmd.addAll(machineAndDevices);
        process = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        in = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        out = process.getOutputStream();
        in.readLine();
        execute("qmp_capabilities", null);
    }

    JsonNode execute(String command, String arguments) throws IOException {
        String line = "{\"execute\": \"" + command + "\"" + (arguments == null ? "" : ", \"arguments\": " + arguments) + "}\n";
        out.write(line.getBytes(StandardCharsets.UTF_8));
        out.flush();
        while (true) {
            String reply = in.readLine();
            if (reply == null) throw new IOException("QEMU closed QMP");
            JsonNode r = QmpClient.JSON.readTree(reply);
            if (r.has("return") || r.has("error")) return r;
        }
    }

    @Override
    public void close() throws Exception {
        process.destroy();
        process.waitFor(10, TimeUnit.SECONDS);
    }
}
