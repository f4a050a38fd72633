package dev.vmm.cli.sandbox;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code vmm img info|check|map|convert} without a {@code --sandbox} option enter the seccomp filter:
 * each runs in a fresh child JVM ({@link ImgHost}) on a qcow2 image with a raw backing file (made by
 * qemu-img), and afterwards every thread of that JVM shows {@code Seccomp: 2} in /proc, read from
 * here. The control, {@code --sandbox off}, leaves {@code 0}: so this fails if the default is not on.
 * What the commands print under the filter is compared with qemu-img by ImgCommandTest,
 * HostileImageTest and NbdCommandTest, which run every vmm img command through {@link ImgHost} too.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class ImgSandboxDefaultTest {
    @TempDir Path tmp;
    Path top;

    static void qemu(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(String.join(" ", cmd) + ": " + out).isZero();
    }

    @BeforeEach
    void chain() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/qemu-img")) && Files.isExecutable(Path.of("/usr/bin/qemu-io")), "qemu-img/qemu-io are needed");
        Path base = tmp.resolve("base.raw");
        top = tmp.resolve("top.qcow2");
        qemu("qemu-img", "create", "-f", "raw", base.toString(), "4M");
        qemu("qemu-io", "-f", "raw", "-c", "write -P 0x5a 0 1M", base.toString());
        qemu("qemu-img", "create", "-f", "qcow2", "-b", base.toString(), "-F", "raw", top.toString());
        qemu("qemu-io", "-f", "qcow2", "-c", "write -P 0x33 2M 64k", top.toString());
    }

    /** Runs {@code vmm img ARGS} in a fresh child; returns the Seccomp field of each of its threads afterwards. */
    private static List<String> seccompAfter(String... args) throws Exception {
        try (ImgHost host = new ImgHost()) {
            ImgHost.Run r = host.run(args);
            assertThat(r.exit()).as(String.join(" ", args) + ": " + r.err()).isZero();
            return host.seccompOfEveryThread();
        }
    }

    private List<String[]> commands(String... sandbox) {
        List<String[]> all = new ArrayList<>();
        all.add(with(sandbox, "info", top.toString()));
        all.add(with(sandbox, "check", top.toString()));
        all.add(with(sandbox, "map", "--output=json", top.toString()));
        all.add(with(sandbox, "convert", "-O", "raw", top.toString(), tmp.resolve("copy-" + sandbox.length + ".raw").toString()));
        return all;
    }

    private static String[] with(String[] sandbox, String sub, String... rest) {
        List<String> a = new ArrayList<>(List.of(sub));
        a.addAll(List.of(sandbox));
        a.addAll(List.of(rest));
        return a.toArray(String[]::new);
    }

    @Test
    void everySubcommandEntersTheFilterByDefault() throws Exception {
        for (String[] c : commands()) assertThat(seccompAfter(c)).as(String.join(" ", c)).isNotEmpty().containsOnly("2");
    }

    @Test
    void sandboxOffLeavesEveryThreadUnfiltered() throws Exception {
        for (String[] c : commands("--sandbox", "off")) assertThat(seccompAfter(c)).as(String.join(" ", c)).isNotEmpty().containsOnly("0");
    }

    @Test
    void aCopyMadeUnderTheFilterEqualsQemuImgsCopy() throws Exception {
        Path ours = tmp.resolve("ours.raw"), theirs = tmp.resolve("theirs.raw");
        assertThat(seccompAfter("convert", "-O", "raw", top.toString(), ours.toString())).containsOnly("2");
        qemu("qemu-img", "convert", "-f", "qcow2", "-O", "raw", top.toString(), theirs.toString());
        assertThat(Files.readAllBytes(ours)).isEqualTo(Files.readAllBytes(theirs));
    }
}
