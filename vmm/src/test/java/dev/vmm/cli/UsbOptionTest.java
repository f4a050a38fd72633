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
        RunCommand r = new RunCommand();
        new CommandLine(r).parseArgs("--dry-run", "--machine", machine, "--usb");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream saved = System.out;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            assertThat(r.call()).isZero();
        } finally {
            System.setOut(saved);
        }
        assertThat(out.toString(StandardCharsets.UTF_8)).contains("qemu-xhci");
    }
}
