package dev.vmm.cli.img;

import dev.vmm.block.BlockException;
import dev.vmm.block.ImageFormat;
import dev.vmm.ffm.NativeException;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;

/** Shared parsing and error reporting of the {@code vmm img} subcommands. */
final class ImgSupport {
    private ImgSupport() {}

    /** Runs a subcommand body; a failure becomes one line on stderr and exit code 1, never a stack trace. */
    static int guarded(CommandLine cmd, Callable<Integer> body) {
        try {
            return body.call();
        } catch (BlockException | NativeException | IllegalArgumentException e) {
            error(cmd, e.getMessage());
            return 1;
        } catch (java.io.UncheckedIOException e) {
            error(cmd, e.getCause().getMessage());
            return 1;
        } catch (Exception e) {
            error(cmd, e.toString());
            return 1;
        }
    }

    static void error(CommandLine cmd, String message) {
        PrintWriter err = cmd.getErr();
        err.println("vmm img: " + message);
        err.flush();
    }

    static ImageFormat format(String name) {
        return name == null ? null : ImageFormat.byName(name);
    }

    /** Parses "1G", "512M", "64k", "4096", "1.5G" (binary units, like qemu-img). */
    static long parseSize(String s) {
        String t = s.trim();
        if (t.isEmpty()) throw new IllegalArgumentException("empty size");
        char last = Character.toLowerCase(t.charAt(t.length() - 1));
        int shift = switch (last) {
            case 'b' -> 0;
            case 'k' -> 10;
            case 'm' -> 20;
            case 'g' -> 30;
            case 't' -> 40;
            case 'p' -> 50;
            case 'e' -> 60;
            default -> -1;
        };
        String num = shift >= 0 ? t.substring(0, t.length() - 1) : t;
        if (shift < 0) shift = 0;
        try {
            if (num.contains(".")) {
                double d = Double.parseDouble(num) * Math.pow(2, shift);
                if (d < 0 || d >= 0x1p63) throw new IllegalArgumentException("size out of range: " + s);
                return (long) d;
            }
            long v = Long.parseLong(num);
            if (v < 0 || (shift > 0 && v > (Long.MAX_VALUE >> shift))) throw new IllegalArgumentException("size out of range: " + s);
            return v << shift;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("invalid size '" + s + "' (use a number with an optional k, M, G or T suffix)");
        }
    }

    /** "64 MiB", "1.5 GiB", "512 B" like qemu-img's human sizes. */
    static String humanSize(long bytes) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        double v = bytes;
        int u = 0;
        while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
        if (u == 0) return bytes + " B";
        String s = String.format(Locale.ROOT, "%.3g", v);
        if (s.contains(".")) s = s.replaceAll("0+$", "").replaceAll("\\.$", "");
        return s + " " + units[u];
    }
}
