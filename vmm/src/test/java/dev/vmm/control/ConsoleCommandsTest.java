package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.config.ConsolePortOptions;
import dev.vmm.config.ConsoleSpec;
import dev.vmm.virtio.console.VirtioConsole;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * virtio-console port hot-plug over QMP ({@link ConsoleCommands}: chardev-add, chardev-remove,
 * query-chardev, device_add/device_del of virtserialport) on a {@link KvmFreeMachine} with a real
 * virtio-console (attached by {@code --console-port}'s code), each command compared with QEMU 7.2
 * ({@code -machine pc,accel=tcg -S -device virtio-serial-pci}) at test time: the same replies, the
 * same errors for hostile arguments, the same DEVICE_DELETED event. Each side gets its own files
 * and sockets ({@code {DIR}} in the arguments); QEMU's answers are read with its directory named
 * as ours. The machine-side effect is the console's port list and the files and sockets made.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ConsoleCommandsTest {
    @TempDir
    Path dir;
    @AutoClose
    private final Closer open = new Closer();
    private KvmFreeMachine machine;
    private EventQmpClient ours, qemu;
    private Path oursDir, qemuDir;

    private void start(boolean console) throws Exception {
        oursDir = Files.createDirectories(dir.resolve("o"));
        qemuDir = Files.createDirectories(dir.resolve("q"));
        machine = new KvmFreeMachine(console
                ? List.of(new ConsoleSpec(List.of(ConsolePortOptions.parse("name=org.vmm.log,file=" + dir.resolve("log.out")))))
                : List.of());
        open.add(machine);
        ours = EventQmpClient.serving(dir.resolve("qmp.sock"), open,
                s -> ConsoleCommands.install(s, DeviceDrivers.install(s), () -> machine.registry));
        List<String> opts = new ArrayList<>(List.of("-machine", "pc,accel=tcg", "-S"));
        if (console) opts.addAll(List.of("-device", "virtio-serial-pci,id=vs0"));
        qemu = EventQmpClient.qemu(opts);
        open.add(qemu);
    }

    /** Sends the command to both ({@code {DIR}}: each side's directory); returns ours after comparing. */
    private JsonNode both(String command, String args) throws Exception {
        JsonNode q = qemu.execute(command, args == null ? null : args.replace("{DIR}", qemuDir.toString()));
        JsonNode o = ours.execute(command, args == null ? null : args.replace("{DIR}", oursDir.toString()));
        assertThat(o).as("%s %s: ours vs QEMU's", command, args).isEqualTo(asOurs(q));
        return o;
    }

    /** QEMU's answer with its directory named as ours, and without its own monitor's chardev. */
    private JsonNode asOurs(JsonNode q) throws Exception {
        JsonNode n = EventQmpClient.JSON.readTree(q.toString().replace(qemuDir.toString(), oursDir.toString()));
        if (n.path("return").isArray()) {
            var kept = EventQmpClient.JSON.createArrayNode();
            for (JsonNode e : n.get("return")) if (!e.path("label").asText().equals("compat_monitor0")) kept.add(e);
            ((com.fasterxml.jackson.databind.node.ObjectNode) n).set("return", kept);
        }
        return n;
    }

    /** query-chardev, compared as a set (QEMU lists newest first). */
    private void sameChardevs() throws Exception {
        JsonNode q = asOurs(qemu.execute("query-chardev", null)), o = ours.execute("query-chardev", null);
        List<JsonNode> qs = new ArrayList<>(), os = new ArrayList<>();
        q.get("return").forEach(qs::add);
        o.get("return").forEach(os::add);
        assertThat(os).as("query-chardev: ours vs QEMU's").containsExactlyInAnyOrderElementsOf(qs);
    }

    private VirtioConsole.PortStatus port(String name) {
        return machine.registry.console().ports().stream().filter(p -> name.equals(p.name())).findFirst().orElseThrow();
    }

    private static SocketChannel connect(Path socket) throws Exception {
        SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX);
        c.connect(UnixDomainSocketAddress.of(socket));
        return c;
    }

    /** Waits (at most 10 s) until both sides' query-chardev gives {@code label} a filename starting with {@code prefix}. */
    private void awaitFilename(String label, String prefix) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            String o = filename(ours, label), q = filename(qemu, label);
            if (o.startsWith(prefix) && q.startsWith(prefix)) return;
            if (System.nanoTime() > deadline) throw new AssertionError(label + ": ours " + o + ", QEMU's " + q + ", awaited " + prefix);
            Thread.sleep(20);
        }
    }

    private static String filename(EventQmpClient c, String label) throws Exception {
        for (JsonNode e : c.execute("query-chardev", null).get("return")) {
            if (e.path("label").asText().equals(label)) return e.path("filename").asText();
        }
        throw new AssertionError("no chardev " + label);
    }

    private List<String> portNames() {
        VirtioConsole vc = machine.registry.console();
        return vc.ports().stream().map(VirtioConsole.PortStatus::name).toList();
    }

    @Test
    void chardevsAndPortsComeAndGoAsInQemu() throws Exception {
        start(true);
        String file = "{\"id\":\"c1\",\"backend\":{\"type\":\"file\",\"data\":{\"out\":\"{DIR}/c1.out\"}}}";
        String socket = "{\"id\":\"c2\",\"backend\":{\"type\":\"socket\",\"data\":{\"addr\":{\"type\":\"unix\",\"data\":{\"path\":\"{DIR}/c2.sock\"}},"
                + "\"server\":true,\"wait\":false}}}";
        both("chardev-add", file);
        both("chardev-add", socket);
        assertThat(oursDir.resolve("c1.out")).exists();
        assertThat(oursDir.resolve("c2.sock")).as("bound at chardev-add").exists();
        both("chardev-add", file.replace("c1.out", "other.out"));      // the id is taken
        assertThat(oursDir.resolve("other.out")).doesNotExist();
        sameChardevs();

        both("device_add", "{\"driver\":\"virtserialport\",\"chardev\":\"nope\",\"id\":\"p0\"}");
        List<String> before = portNames();
        both("device_add", "{\"driver\":\"virtserialport\",\"chardev\":\"c1\",\"name\":\"org.x\",\"id\":\"p1\"}");
        assertThat(portNames()).hasSize(before.size() + 1).contains("org.x");
        assertThat(port("org.x").hostOpen()).as("the port has c1's file as its backend").isTrue();
        both("device_add", "{\"driver\":\"virtserialport\",\"chardev\":\"c1\",\"name\":\"org.y\",\"id\":\"p2\"}");  // c1 is in use
        both("device_add", "{\"driver\":\"virtserialport\",\"chardev\":\"c2\",\"name\":\"org.x\",\"id\":\"p3\"}");  // the name is taken
        assertThat(portNames()).hasSize(before.size() + 1);
        sameChardevs();                                                 // frontend-open: no guest opened a port

        // A client on c2's socket: query-chardev drops "disconnected:" on both sides, and gets it back when the client goes.
        both("device_add", "{\"driver\":\"virtserialport\",\"chardev\":\"c2\",\"name\":\"org.z\",\"id\":\"p3\"}");
        assertThat(port("org.z").hostOpen()).as("no client yet").isFalse();
        try (SocketChannel o = connect(oursDir.resolve("c2.sock")); SocketChannel q = connect(qemuDir.resolve("c2.sock"))) {
            awaitFilename("c2", "unix:");
            sameChardevs();
            assertThat(port("org.z").hostOpen()).isTrue();
        }
        awaitFilename("c2", "disconnected:unix:");
        sameChardevs();
        both("device_del", "{\"id\":\"p3\"}");
        assertThat(ours.event("DEVICE_DELETED").get("data")).isEqualTo(qemu.event("DEVICE_DELETED").get("data"));
        assertThat(portNames()).doesNotContain("org.z");
        both("chardev-remove", "{\"id\":\"c1\"}");                      // busy

        both("device_del", "{\"id\":\"p1\"}");
        JsonNode q = qemu.event("DEVICE_DELETED"), o = ours.event("DEVICE_DELETED");
        assertThat(o.get("data")).isEqualTo(q.get("data"));
        assertThat(portNames()).isEqualTo(before);
        sameChardevs();
        both("chardev-remove", "{\"id\":\"c1\"}");
        both("device_del", "{\"id\":\"p1\"}");                          // gone
        sameChardevs();
        // c1 may be defined again; its port reopens the file.
        both("chardev-add", file);
        both("device_add", "{\"driver\":\"virtserialport\",\"chardev\":\"c1\",\"name\":\"org.x\",\"id\":\"p1\"}");
        assertThat(portNames()).contains("org.x");
        both("chardev-remove", "{\"id\":\"c2\"}");
        sameChardevs();
        assertThat(ours.pendingEvents()).isEmpty();
    }

    @Test
    void hostileChardevArgumentsGetQemusErrors() throws Exception {
        start(true);
        List<String> hostile = List.of(
                "{\"id\":\"c3\"}",
                "{\"backend\":{\"type\":\"file\",\"data\":{\"out\":\"{DIR}/x\"}}}",
                "{\"id\":7,\"backend\":{\"type\":\"file\",\"data\":{\"out\":\"{DIR}/x\"}}}",
                "{\"id\":null,\"backend\":{\"type\":\"file\",\"data\":{\"out\":\"{DIR}/x\"}}}",
                "{\"id\":\"c3\",\"backend\":\"x\"}",
                "{\"id\":\"c3\",\"backend\":{}}",
                "{\"id\":\"c3\",\"backend\":{\"type\":5}}",
                "{\"id\":\"c3\",\"backend\":{\"type\":\"bogus\",\"data\":{}}}",
                "{\"id\":\"c3\",\"backend\":{\"type\":\"file\"}}",
                "{\"id\":\"c3\",\"backend\":{\"type\":\"file\",\"data\":[]}}",
                "{\"id\":\"c3\",\"backend\":{\"type\":\"file\",\"data\":{}}}",
                "{\"id\":\"c3\",\"backend\":{\"type\":\"file\",\"data\":{\"out\":3}}}",
                "{\"id\":\"c3\",\"backend\":{\"type\":\"socket\",\"data\":{}}}",
                "{\"id\":\"c3\",\"backend\":{\"type\":\"socket\",\"data\":{\"addr\":{}}}}",
                "{\"id\":\"c3\",\"backend\":{\"type\":\"socket\",\"data\":{\"addr\":{\"type\":\"unix\"}}}}",
                "{\"id\":\"c3\",\"backend\":{\"type\":\"socket\",\"data\":{\"addr\":{\"type\":\"unix\",\"data\":{}}}}}",
                "{\"id\":\"c3\",\"backend\":{\"type\":\"socket\",\"data\":{\"addr\":{\"type\":\"unix\",\"data\":{\"path\":\"{DIR}/s\"}},\"server\":\"yes\"}}}");
        for (String args : hostile) both("chardev-add", args);
        both("chardev-remove", "{\"id\":\"nope\"}");
        both("chardev-remove", "{}");
        both("chardev-remove", "{\"id\":[]}");
        sameChardevs();
        assertThat(ours.execute("query-chardev", null).get("return")).isEmpty();
        try (var files = Files.list(oursDir)) {
            assertThat(files.toList()).as("nothing opened or bound").isEmpty();
        }
        // Opening fails: QEMU's prefix, then our reason with the path.
        String bad = "{\"id\":\"c3\",\"backend\":{\"type\":\"file\",\"data\":{\"out\":\"{DIR}/no/such/dir/x\"}}}";
        String q = qemu.execute("chardev-add", bad.replace("{DIR}", qemuDir.toString())).at("/error/desc").asText();
        String o = ours.execute("chardev-add", bad.replace("{DIR}", oursDir.toString())).at("/error/desc").asText();
        String prefix = "Failed to add chardev 'c3': ";
        assertThat(q).startsWith(prefix);
        assertThat(o).startsWith(prefix).contains(oursDir.resolve("no/such/dir/x").toString());
        String sockBad = "{\"id\":\"c3\",\"backend\":{\"type\":\"socket\",\"data\":{\"addr\":{\"type\":\"unix\",\"data\":{\"path\":\"{DIR}/no/s\"}},\"server\":true}}}";
        assertThat(qemu.execute("chardev-add", sockBad.replace("{DIR}", qemuDir.toString())).at("/error/desc").asText()).startsWith(prefix);
        assertThat(ours.execute("chardev-add", sockBad.replace("{DIR}", oursDir.toString())).at("/error/desc").asText())
                .startsWith(prefix).contains(oursDir.resolve("no/s").toString());
        // A socket chardev removed before any port used it: its socket goes, as QEMU's does.
        String sock = "{\"id\":\"c5\",\"backend\":{\"type\":\"socket\",\"data\":{\"addr\":{\"type\":\"unix\",\"data\":{\"path\":\"{DIR}/c5.sock\"}},\"server\":true,\"wait\":false}}}";
        both("chardev-add", sock);
        assertThat(oursDir.resolve("c5.sock")).exists();
        both("chardev-remove", "{\"id\":\"c5\"}");
        assertThat(Files.exists(oursDir.resolve("c5.sock"))).isEqualTo(Files.exists(qemuDir.resolve("c5.sock"))).isFalse();
        // What QEMU has and we do not: refused by name.
        assertThat(ours.execute("chardev-add", "{\"id\":\"c4\",\"backend\":{\"type\":\"pty\",\"data\":{}}}").at("/error/desc").asText())
                .isEqualTo("chardev type 'pty' is not supported (socket, file)");
        assertThat(ours.execute("chardev-add", "{\"id\":\"c4\",\"backend\":{\"type\":\"file\",\"data\":{\"out\":\"" + oursDir + "/o\",\"in\":\"/dev/null\"}}}")
                .at("/error/desc").asText()).isEqualTo("chardev 'c4': file input is not supported");
        assertThat(ours.execute("chardev-add", "{\"id\":\"c4\",\"backend\":{\"type\":\"socket\",\"data\":{\"addr\":{\"type\":\"inet\",\"data\":{}},\"server\":true}}}")
                .at("/error/desc").asText()).isEqualTo("chardev 'c4': only UNIX socket addresses are supported");
        assertThat(ours.execute("chardev-add", "{\"id\":\"c4\",\"backend\":{\"type\":\"socket\",\"data\":{\"addr\":{\"type\":\"unix\",\"data\":{\"path\":\""
                + oursDir + "/s\"}}}}}").at("/error/desc").asText()).isEqualTo("chardev 'c4': only server mode (\"server\": true) is supported");
        assertThat(ours.execute("chardev-add", "{\"id\":\"c4\",\"backend\":{\"type\":\"socket\",\"data\":{\"addr\":{\"type\":\"unix\",\"data\":{\"path\":\""
                + oursDir + "/s\"}},\"server\":false}}}").at("/error/desc").asText()).isEqualTo("chardev 'c4': only server mode (\"server\": true) is supported");
        try (var files = Files.list(oursDir)) {
            assertThat(files.toList()).isEmpty();
        }
        assertThat(ours.execute("query-chardev", null).get("return")).isEmpty();
    }

    @Test
    void withoutAVirtioConsoleThereIsNoBusForAPort() throws Exception {
        start(false);
        String file = "{\"id\":\"c1\",\"backend\":{\"type\":\"file\",\"data\":{\"out\":\"{DIR}/c1.out\"}}}";
        both("chardev-add", file);
        String add = "{\"driver\":\"virtserialport\",\"chardev\":\"c1\",\"id\":\"p1\"}";
        String q = qemu.execute("device_add", add).at("/error/desc").asText();
        JsonNode o = ours.execute("device_add", add);
        assertThat(o.at("/error/class").asText()).isEqualTo("GenericError");
        assertThat(o.at("/error/desc").asText()).startsWith(q).endsWith("(start the machine with a --console-port to have a virtio-console)");
        sameChardevs();
    }
}
