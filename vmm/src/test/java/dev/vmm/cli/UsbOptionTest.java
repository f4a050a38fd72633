package dev.vmm.cli;

import dev.vmm.config.ConfigException;
import dev.vmm.config.UsbSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@code --usb}: parsed into a {@link UsbSpec}, shown by {@code --dry-run} on both machines (no KVM needed). */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class UsbOptionTest {
    @Test
    void takesNoKeys() {
        assertThat(UsbSpec.parse("")).isEqualTo(new UsbSpec());
        assertThatThrownBy(() -> UsbSpec.parse("ports=9")).isInstanceOf(ConfigException.class).hasMessageStartingWith("--usb: unknown key 'ports'");
    }

    @ParameterizedTest
    @ValueSource(strings = {"pc", "q35"})
    void dryRunShowsTheController(String machine) throws Exception {
        assertThat(dryRun("--dry-run", "--machine", machine, "--usb")).contains("qemu-xhci");
    }

    /** What {@code vmm run} with {@code args} prints (it must succeed). */
    private static String dryRun(String... args) throws Exception {
        RunCommand r = new RunCommand();
        new CommandLine(r).parseArgs(args);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream saved = System.out;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            assertThat(r.call()).isZero();
        } finally {
            System.setOut(saved);
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    /** A --usb-storage alone makes the machine boot SeaBIOS, and its bootindex is in the order the dry run prints. */
    @Test
    void usbStorageBootsFirmwareWithItsBootindexInTheOrder(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path img = dir.resolve("stick.img");
        java.nio.file.Files.write(img, new byte[1 << 20]);
        org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.exists(dev.vmm.firmware.PlatformOptions.DEFAULT_BIOS),
                "Debian's SeaBIOS is not installed (apt-get install seabios)");
        String text = dryRun("--dry-run", "--usb", "--usb-tablet", "--usb-storage", "path=" + img + ",readonly=on",
                "--usb-storage", "path=" + img + ",readonly=on,bootindex=4");
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("  00:(..)\\.0 qemu-xhci").matcher(text);
        assertThat(m.find()).as(text).isTrue();
        // The second storage device is on USB 3 port 2 (the tablet takes a USB 2 port).
        assertThat(text).contains("bootorder /pci@i0cf8/usb@" + Integer.toHexString(Integer.parseInt(m.group(1), 16))
                + "/storage@2/channel@0/disk@0,0");
    }
}
