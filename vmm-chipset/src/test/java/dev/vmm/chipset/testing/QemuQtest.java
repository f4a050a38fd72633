package dev.vmm.chipset.testing;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * QEMU 7.2 as the reference device model, driven through its qtest protocol ({@code -qtest stdio}:
 * {@code outb/outw/outl PORT VALUE}, {@code inb/inw/inl PORT}, {@code read/write ADDR SIZE 0xHEX},
 * {@code readl/writel}), with the vCPUs stopped ({@code -S}) so only the test touches the devices.
 * Tests using it are skipped when qemu-system-x86_64 is absent.
 */
public final class QemuQtest implements AutoCloseable {
    private final Process process;
    private final Writer in;
    private final BufferedReader out;
    private final List<String> irqNotices = new ArrayList<>();

    private QemuQtest(List<String> cmd) throws IOException {
        process = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        in = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.US_ASCII);
        out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.US_ASCII));
    }

    /** Starts {@code qemu-system-x86_64 -qtest stdio -display none -nodefaults -S} plus {@code args}. */
    public static QemuQtest start(String... args) throws IOException {
        Path qemu = ExternalTool.require("qemu-system-x86_64", "qemu-system-x86");
        List<String> cmd = new ArrayList<>(List.of(qemu.toString(), "-qtest", "stdio", "-display", "none",
                "-nodefaults", "-S"));
        cmd.addAll(List.of(args));
        return new QemuQtest(cmd);
    }

    /**
     * Like {@link #start} but with the vCPUs running ({@code -S} left out), for devices whose work is
     * paced by virtual time (this QEMU build has no qtest accelerator, so no {@code clock_step}):
     * give a {@code -bios} that halts so no firmware touches the devices.
     */
    public static QemuQtest startRunning(String... args) throws IOException {
        Path qemu = ExternalTool.require("qemu-system-x86_64", "qemu-system-x86");
        List<String> cmd = new ArrayList<>(List.of(qemu.toString(), "-qtest", "stdio", "-display", "none", "-nodefaults"));
        cmd.addAll(List.of(args));
        return new QemuQtest(cmd);
    }

    /**
     * Writes a "firmware" of 64 KiB of HLT instructions into {@code dir}, for {@code -bios}: the vCPU
     * halts at the reset vector, so with the vCPUs running ({@link #startRunning}, or {@code cont}
     * over QMP) virtual time and the devices' timers run, and nothing but the test touches the
     * devices (SeaBIOS would program them at a moment that depends on the host's load).
     */
    public static Path haltingBios(Path dir) throws IOException {
        Path bios = dir.resolve("hlt.bin");
        byte[] hlt = new byte[64 << 10];
        Arrays.fill(hlt, (byte) 0xF4);
        Files.write(bios, hlt);
        return bios;
    }

    /** Sends one command and returns the text after "OK" (trimmed), failing on anything else. */
    public synchronized String command(String line) {
        try {
            in.write(line + "\n");
            in.flush();
            while (true) {
                String r = out.readLine();
                if (r == null) throw new IllegalStateException("qemu exited during '" + line + "'");
                if (r.startsWith("IRQ")) {
                    irqNotices.add(r.substring(4).trim()); // "raise 8" / "lower 8" after irq_intercept_in
                    continue;
                }
                if (r.startsWith("OK")) return r.substring(2).trim();
                throw new IllegalStateException("qtest '" + line + "' answered '" + r + "'");
            }
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The interrupt notices ("raise N", "lower N") read since the last call, in order. QEMU sends
     * them as they happen; they are read with the next command's answer, so send one (any harmless
     * read) before looking.
     */
    public synchronized List<String> takeIrqNotices() {
        List<String> l = List.copyOf(irqNotices);
        irqNotices.clear();
        return l;
    }

    public long in(int port, int size) {
        String op = size == 1 ? "inb" : size == 2 ? "inw" : "inl";
        return number(command(op + " 0x" + Integer.toHexString(port)));
    }

    /** A qtest number ("0x..." up to 64 bits, unsigned). */
    public static long number(String s) {
        return Long.parseUnsignedLong(s.startsWith("0x") ? s.substring(2) : s, 16);
    }

    public void out(int port, int size, long value) {
        String op = size == 1 ? "outb" : size == 2 ? "outw" : "outl";
        command(op + " 0x" + Integer.toHexString(port) + " 0x" + Long.toHexString(value));
    }

    public byte[] read(long addr, int size) {
        String hex = command("read 0x" + Long.toHexString(addr) + " 0x" + Integer.toHexString(size));
        return HexFormat.of().parseHex(hex.substring(2));
    }

    public void write(long addr, byte[] data) {
        command("write 0x" + Long.toHexString(addr) + " 0x" + Integer.toHexString(data.length) + " 0x" + HexFormat.of().formatHex(data));
    }

    /** A config dword through mechanism #1. */
    public long cfgRead(int bus, int dev, int fn, int reg, int size) {
        out(0xcf8, 4, 0x8000_0000L | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc));
        return in(0xcfc + (reg & 3), size);
    }

    public void cfgWrite(int bus, int dev, int fn, int reg, int size, long value) {
        out(0xcf8, 4, 0x8000_0000L | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc));
        out(0xcfc + (reg & 3), size, value);
    }

    @Override
    public void close() throws InterruptedException {
        try {
            in.close();
        } catch (IOException ignored) {
            // already gone
        }
        process.destroy();   // qtest has no quit command: SIGTERM, as QEMU expects from a management tool
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }

    public static void assumeInstalled() {
        assumeTrue(ExternalTool.find("qemu-system-x86_64") != null, "qemu-system-x86_64 not found (package qemu-system-x86)");
    }
}
