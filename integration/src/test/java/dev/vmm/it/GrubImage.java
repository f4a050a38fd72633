package dev.vmm.it;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A GRUB boot image for firmware-boot tests (issue 13, tests 1, 2 and 4), made at test time with
 * {@code grub-mkrescue} (Debian's grub-pc-bin, grub-common, xorriso, mtools): an El Torito ISO that
 * is also a hybrid MBR disk, so the same bytes boot from a CD-ROM and, as raw or qcow2, from a
 * virtio-blk or AHCI disk. Its grub.cfg puts GRUB's terminal on COM1, prints a start marker, the
 * PCI functions ({@code lspci}), the SMBIOS type 1 manufacturer ({@code smbios}, what dmidecode's
 * "System Information / Manufacturer" reads) and an end marker, then powers off through ACPI
 * ({@code halt}), which ends QEMU and vmm alike.
 */
final class GrubImage {
    static final String START = "vmm-grub-marker: start", END = "vmm-grub-marker: end";

    private GrubImage() {}

    /** Skips (with the reason) when the tools are missing. */
    static void assumeTools() {
        for (String tool : List.of("grub-mkrescue", "xorriso", "mformat", "qemu-img")) {
            assumeTrue(onPath(tool), tool + " is not installed (apt-get install grub-pc-bin grub-common xorriso mtools qemu-utils)");
        }
        assumeTrue(Files.isDirectory(Path.of("/usr/lib/grub/i386-pc")), "GRUB's BIOS modules are missing (apt-get install grub-pc-bin)");
    }

    static boolean onPath(String tool) {
        return Stream.of(System.getenv().getOrDefault("PATH", "/usr/bin").split(":")).anyMatch(d -> Files.isExecutable(Path.of(d, tool)));
    }

    /** The standard image: markers, lspci, SMBIOS, halt. */
    static Path iso(Path dir) throws IOException, InterruptedException {
        return iso(dir, List.of(), """
                echo "%s"
                lspci
                smbios --type 1 --get-string 4 --set maker
                echo "vmm-grub-smbios: manufacturer=${maker}"
                echo "%s"
                halt
                """.formatted(START, END));
    }

    /**
     * An image whose grub.cfg runs {@code body} after switching the terminal to COM1, with
     * {@code files} copied into the ISO's /boot.
     */
    static Path iso(Path dir, List<Path> files, String body) throws IOException, InterruptedException {
        Path root = Files.createDirectories(dir.resolve("iso-root/boot/grub"));
        Files.writeString(root.resolve("grub.cfg"), """
                serial --unit=0 --speed=115200
                terminal_input serial
                terminal_output serial
                set timeout=0
                """ + body);
        for (Path f : files) Files.copy(f, root.getParent().resolve(f.getFileName()));
        Path iso = dir.resolve("grub.iso");
        run(dir, "grub-mkrescue", "-o", iso.toString(), dir.resolve("iso-root").toString(),
                "--modules=serial lspci smbios halt echo linux part_msdos iso9660 biosdisk");
        return iso;
    }

    /** The image as a qcow2 disk. */
    static Path qcow2(Path iso) throws IOException, InterruptedException {
        Path out = iso.resolveSibling("grub.qcow2");
        run(iso.getParent(), "qemu-img", "convert", "-f", "raw", "-O", "qcow2", iso.toString(), out.toString());
        return out;
    }

    private static void run(Path dir, String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0) throw new IOException(String.join(" ", cmd) + " failed:\n" + out);
    }

    /** What GRUB printed between the markers. */
    record Output(String serial) {
        boolean complete() { return serial.contains(START) && serial.contains(END); }

        /** lspci lines as "BB:DD.F VVVV:DDDD". */
        List<String> pci() {
            List<String> out = new ArrayList<>();
            Matcher m = Pattern.compile("(?m)^(\\p{XDigit}{2}:\\p{XDigit}{2}\\.\\d) (\\p{XDigit}{4}:\\p{XDigit}{4})").matcher(serial.replace("\r", ""));
            while (m.find()) out.add(m.group(1) + " " + m.group(2));
            return out;
        }

        String smbiosManufacturer() {
            Matcher m = Pattern.compile("vmm-grub-smbios: manufacturer=(.*)").matcher(serial.replace("\r", ""));
            return m.find() ? m.group(1).strip() : null;
        }
    }

    /** Runs {@code cmd} (its COM1 going to {@code serial}) until it exits by itself, at most {@code budget}. */
    static Output boot(List<String> cmd, Path serial, Duration budget) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(serial.resolveSibling(serial.getFileName() + ".log").toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        try {
            if (!p.waitFor(budget.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new AssertionError("no power-off within " + budget + "; COM1 so far:\n" + read(serial));
            }
        } finally {
            p.destroyForcibly();
        }
        return new Output(read(serial));
    }

    static String read(Path p) throws IOException {
        return Files.exists(p) ? Files.readString(p, StandardCharsets.ISO_8859_1) : "";
    }
}
