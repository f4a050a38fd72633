package dev.vmm.smp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code --cpus} against QEMU 7.2's {@code -smp} at test time: for each option string QEMU either
 * refuses it (our {@link SmpTopology.Invalid} must carry the same message, the machine's versioned
 * name aside) or starts, and then every possible CPU's socket/core/thread ids (query-hotpluggable-cpus)
 * and every present CPU's APIC id ({@code qom-get apic-id}) must be ours.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class SmpTopologyQemuOracleTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    Path dir;

    private static final List<String> CASES = List.of(
            "1", "4", "1,maxcpus=3", "2,maxcpus=4,sockets=2", "4,sockets=2,cores=2", "8,sockets=2,cores=2,threads=2",
            "2,maxcpus=6,sockets=2,threads=1", "3,maxcpus=6,cores=3", "maxcpus=4", "sockets=2", "cores=3,threads=2",
            "6,sockets=2,cores=3", "5,maxcpus=12,sockets=3,cores=2,threads=2", "3,maxcpus=8,sockets=2,threads=2",
            // refused
            "2,maxcpus=1", "4,sockets=2,cores=2,threads=2", "4,sockets=3", "4,sockets=2,cores=3", "1,sockets=2,maxcpus=3",
            "3,threads=2", "300", "1,maxcpus=256", "abc", "2,foo=1", "2,maxcpus=x");

    @Test
    void sameTopologiesAndErrorsAsQemu() throws Exception {
        String exe = Stream.of(System.getenv().getOrDefault("PATH", "/usr/bin").split(":"))
                .map(d -> Path.of(d, "qemu-system-x86_64")).filter(Files::isExecutable).findFirst().map(Path::toString).orElse(null);
        assumeTrue(exe != null, "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");
        int refused = 0;
        for (String smp : CASES) {
            Path err = dir.resolve("err.txt");
            // Opteron_G5 has topoext, so QEMU does not warn about threads on an AMD model
            Process q = new ProcessBuilder(exe, "-machine", "pc,accel=tcg", "-S", "-m", "128", "-cpu", "Opteron_G5", "-smp", smp,
                    "-nodefaults", "-display", "none", "-qmp", "stdio").redirectError(err.toFile()).start();
            try {
                BufferedReader in = new BufferedReader(new InputStreamReader(q.getInputStream(), StandardCharsets.UTF_8));
                String greeting = in.readLine();
                SmpTopology ours = null;
                String ourError = null;
                try {
                    ours = SmpTopology.parse(smp, "pc");
                } catch (SmpTopology.Invalid e) {
                    ourError = e.getMessage();
                }
                if (greeting == null) {
                    q.waitFor(10, TimeUnit.SECONDS);
                    String qemuError = Files.readString(err).lines().filter(l -> !l.contains("warning")).findFirst().orElse("")
                            .replaceFirst("^qemu-system-x86_64: ", "").replaceFirst("^-smp [^:]*: ", "");
                    assertThat(ourError).as("-smp %s: QEMU refuses with '%s'", smp, qemuError).isNotNull();
                    assertThat(ourError.replace("machine 'pc'", "machine 'M'"))
                            .as("-smp %s", smp).isEqualTo(qemuError.replaceAll("machine '[^']*'", "machine 'M'"));
                    refused++;
                    continue;
                }
                assertThat(ourError).as("-smp %s: QEMU accepts it", smp).isNull();
                OutputStream out = q.getOutputStream();
                execute(in, out, "qmp_capabilities", null);
                JsonNode slots = execute(in, out, "query-hotpluggable-cpus", null);
                List<String> qemuProps = new ArrayList<>();
                for (JsonNode s : slots) {
                    JsonNode pr = s.get("props");
                    qemuProps.add(pr.get("socket-id") + "/" + pr.get("core-id") + "/" + pr.get("thread-id"));
                    assertThat(pr.has("die-id")).isFalse();
                }
                List<String> ourProps = new ArrayList<>();
                for (int i = ours.maxCpus() - 1; i >= 0; i--) {
                    SmpTopology.Slot s = ours.slot(i);
                    ourProps.add(s.socket() + "/" + s.core() + "/" + s.thread());
                }
                assertThat(ourProps).as("-smp %s: possible CPUs", smp).isEqualTo(qemuProps);
                JsonNode present = execute(in, out, "query-cpus-fast", null);
                assertThat(present.size()).as("-smp %s: present CPUs", smp).isEqualTo(ours.cpus());
                for (JsonNode c : present) {
                    int index = c.get("cpu-index").asInt();
                    JsonNode apic = execute(in, out, "qom-get", Map.of("path", c.get("qom-path").asText(), "property", "apic-id"));
                    assertThat(ours.apicId(index)).as("-smp %s: APIC id of CPU %d", smp, index).isEqualTo(apic.asInt());
                }
            } finally {
                q.destroy();
                q.waitFor(10, TimeUnit.SECONDS);
            }
        }
        assertThat(refused).as("cases QEMU refused").isEqualTo(11);
    }

    private static JsonNode execute(BufferedReader in, OutputStream out, String command, Object args) throws IOException {
        var req = JSON.createObjectNode().put("execute", command);
        if (args != null) req.set("arguments", JSON.valueToTree(args));
        out.write((req + "\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
        while (true) {
            String line = in.readLine();
            if (line == null) throw new IOException("QEMU closed QMP");
            JsonNode r = JSON.readTree(line);
            if (r.has("error")) throw new IOException(command + ": " + r);
            if (r.has("return")) return r.get("return");
        }
    }
}
