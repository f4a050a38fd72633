package dev.vmm.cli;

import dev.vmm.config.BalloonSpec;
import dev.vmm.config.MemorySpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@code --balloon} and {@code --memory SIZE,thp=,prealloc=,share=}: parsed, refused, and shown by the dry run (no KVM). */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RunBalloonMemoryOptionsTest {
    private static RunCommand parse(String... args) {
        RunCommand r = new RunCommand();
        new CommandLine(r).parseArgs(args);
        return r;
    }

    private static String dryRun(String... args) {
        PrintStream old = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            String[] all = new String[args.length + 1];
            all[0] = "--dry-run";
            System.arraycopy(args, 0, all, 1, args.length);
            assertThat(parse(all).call()).isZero();
        } finally {
            System.setOut(old);
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void memoryTakesItsBackingKeys() {
        assertThat(parse().memory).isEqualTo(new MemorySpec(256L << 20, true, false, false));
        assertThat(parse("-m", "1G,thp=off,prealloc=on,share=on").memory).isEqualTo(new MemorySpec(1L << 30, false, true, true));
        assertThat(parse("--memory", "512").memory.bytes()).isEqualTo(512L << 20);
        assertThatThrownBy(() -> parse("-m", "1G,thp=maybe")).isInstanceOf(CommandLine.ParameterException.class)
                .hasMessageContaining("thp=maybe is not on or off");
        assertThatThrownBy(() -> parse("-m", "1G,huge=on")).isInstanceOf(CommandLine.ParameterException.class)
                .hasMessageContaining("unknown key 'huge'");
        assertThatThrownBy(() -> parse("-m", "lots,thp=on")).isInstanceOf(CommandLine.ParameterException.class)
                .hasMessageContaining("is not a size");
    }

    @Test
    void noS3AndNoS4ReachTheMachineConfig() {
        assertThat(parse().config().sleep()).isEqualTo(dev.vmm.machine.MachineConfig.SleepStates.BOTH);
        assertThat(parse("--no-s3").config().sleep()).isEqualTo(new dev.vmm.machine.MachineConfig.SleepStates(false, true));
        assertThat(parse("--no-s3", "--no-s4").config().sleep()).isEqualTo(new dev.vmm.machine.MachineConfig.SleepStates(false, false));
    }

    @Test
    void balloonOptionParsesAndRefuses() {
        BalloonSpec b = BalloonSpec.parse("deflate-on-oom=on,free-page-reporting=on,id=b0");
        assertThat(b.options().deflateOnOom()).isTrue();
        assertThat(b.options().freePageReporting()).isTrue();
        assertThat(b.id()).isEqualTo("b0");
        assertThat(BalloonSpec.parse("").options()).isEqualTo(dev.vmm.virtio.balloon.VirtioBalloon.Options.DEFAULT);
        assertThatThrownBy(() -> BalloonSpec.parse("stats=on")).hasMessageContaining("unknown key 'stats'");
        assertThatThrownBy(() -> BalloonSpec.parse("id=0bad")).hasMessageContaining("must start with a letter");
    }

    @Test
    void theDryRunShowsTheBalloonOnPci() {
        String plain = dryRun("--balloon");
        assertThat(plain).contains("virtio-balloon-pci (MADV_DONTNEED)");
        String shared = dryRun("--balloon", "deflate-on-oom=on,free-page-reporting=on", "-m", "128M,share=on,thp=off");
        assertThat(shared).contains("virtio-balloon-pci deflate-on-oom free-page-reporting (MADV_REMOVE)");
    }
}
