package dev.vmm.ahci;

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
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * QEMU 7.2 stopped before its first instruction (-S, TCG: no /dev/kvm needed), driven through QMP on
 * stdio with HMP's port I/O ({@code o}/{@code i}) and physical memory reads ({@code xp}): enough to
 * program a BAR through 0xCF8/0xCFC and read device registers, the oracle for reset values.
 */
final class QemuHmp implements AutoCloseable {
    static final String BINARY = "/usr/bin/qemu-system-x86_64";

    private final Process process;
    private final BufferedReader in;
    private final OutputStream out;

    static boolean available() {
        return Files.isExecutable(Path.of(BINARY));
    }

    QemuHmp(List<String> args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(BINARY, "-accel", "tcg", "-S", "-display", "none", "-nodefaults",
                "-serial", "none", "-qmp", "stdio"));
        cmd.addAll(args);
        process = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        in = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        out = process.getOutputStream();
        line(); // greeting
        send("{\"execute\":\"qmp_capabilities\"}");
    }

    private String line() throws IOException {
        String l = in.readLine();
        if (l == null) throw new IOException("QEMU exited (" + String.join(" ", process.info().arguments().orElse(new String[0])) + ")");
        return l;
    }

    /** Sends one QMP command and returns its reply line (events skipped). */
    private String send(String json) throws IOException {
        out.write((json + "\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
        while (true) {
            String l = line();
            if (l.contains("\"return\"") || l.contains("\"error\"")) return l;
        }
    }

    /** An HMP command's output text. */
    String hmp(String command) throws IOException {
        String reply = send("{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"" + command + "\"}}");
        if (reply.contains("\"error\"")) throw new IOException(command + ": " + reply);
        Matcher m = Pattern.compile("\"return\": \"(.*)\"").matcher(reply);
        return m.find() ? m.group(1).replace("\\r", "").replace("\\n", "\n") : "";
    }

    private static final Pattern HEX = Pattern.compile("0x([0-9a-f]+)");

    int inl(int port) throws IOException {
        Matcher m = Pattern.compile("= 0x([0-9a-f]+)").matcher(hmp("i /w 0x" + Integer.toHexString(port)));
        if (!m.find()) throw new IOException("no value for port " + port);
        return (int) Long.parseLong(m.group(1), 16);
    }

    void outl(int port, int value) throws IOException {
        hmp("o /w 0x" + Integer.toHexString(port) + " 0x" + Integer.toHexString(value));
    }

    void outw(int port, int value) throws IOException {
        hmp("o /h 0x" + Integer.toHexString(port) + " 0x" + Integer.toHexString(value));
    }

    /** Config dword of bus 0 device {@code dev} function {@code fn} through mechanism #1. */
    int config(int dev, int fn, int offset) throws IOException {
        outl(0xCF8, 0x8000_0000 | dev << 11 | fn << 8 | offset);
        return inl(0xCFC);
    }

    void configWrite(int dev, int fn, int offset, int value) throws IOException {
        outl(0xCF8, 0x8000_0000 | dev << 11 | fn << 8 | offset);
        outl(0xCFC, value);
    }

    /** {@code count} dwords of guest-physical memory (or MMIO) at {@code gpa}. */
    int[] readDwords(long gpa, int count) throws IOException {
        String text = hmp("xp /" + count + "wx 0x" + Long.toHexString(gpa));
        int[] v = new int[count];
        int i = 0;
        for (String l : text.split("\n")) {
            int colon = l.indexOf(':');
            if (colon < 0) continue;
            Matcher m = HEX.matcher(l.substring(colon + 1));
            while (m.find() && i < count) v[i++] = (int) Long.parseLong(m.group(1), 16);
        }
        if (i != count) throw new IOException("xp gave " + i + " of " + count + " values: " + text);
        return v;
    }

    @Override
    public void close() {
        try {
            send("{\"execute\":\"quit\"}");
        } catch (IOException ignored) {
            // already gone
        }
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly();
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
