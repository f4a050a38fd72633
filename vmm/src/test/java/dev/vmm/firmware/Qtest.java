package dev.vmm.firmware;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * QEMU 7.2 under {@code -qtest stdio} (vCPUs stopped): port reads and writes, for reading its fw_cfg
 * and CMOS as firmware would (the same protocol as vmm-chipset's QemuQtest, which this module's
 * tests cannot reach).
 */
final class Qtest implements AutoCloseable, FwCfgPorts {
    private final Process process;
    private final Writer in;
    private final BufferedReader out;

    Qtest(String... args) throws IOException {
        String exe = qemu();
        assumeTrue(exe != null, "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");
        List<String> cmd = new ArrayList<>(List.of(exe, "-qtest", "stdio", "-display", "none", "-nodefaults", "-S"));
        cmd.addAll(List.of(args));
        process = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        in = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.US_ASCII);
        out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.US_ASCII));
    }

    static String qemu() {
        return Stream.of(System.getenv().getOrDefault("PATH", "/usr/bin").split(":")).map(d -> Path.of(d, "qemu-system-x86_64"))
                .filter(Files::isExecutable).findFirst().map(Path::toString).orElse(null);
    }

    private String command(String line) {
        try {
            in.write(line + "\n");
            in.flush();
            while (true) {
                String r = out.readLine();
                if (r == null) throw new IllegalStateException("qemu exited during '" + line + "'");
                if (r.startsWith("OK")) return r.substring(2).trim();
                if (r.startsWith("IRQ") || r.startsWith("[")) continue;
                throw new IllegalStateException("qtest '" + line + "' answered '" + r + "'");
            }
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void out(int port, int size, long value) {
        command((size == 1 ? "outb" : size == 2 ? "outw" : "outl") + " 0x" + Integer.toHexString(port) + " 0x" + Long.toHexString(value));
    }

    @Override
    public long in(int port, int size) {
        String r = command((size == 1 ? "inb" : size == 2 ? "inw" : "inl") + " 0x" + Integer.toHexString(port));
        return Long.parseUnsignedLong(r.substring(2), 16);
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
}
