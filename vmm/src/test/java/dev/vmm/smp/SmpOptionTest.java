package dev.vmm.smp;

import dev.vmm.Main;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code vmm run --cpus ...} through {@code Main.run} (no KVM: {@code --dry-run}): a topology QEMU
 * refuses is status 2 with one line, a hot-pluggable one is shown by the dry run, plain
 * {@code --cpus N} prints what it printed before (no topology line).
 */
@Timeout(60)
class SmpOptionTest {
    private record Run(int status, String out, String err) {}

    private static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        PrintStream savedOut = System.out, savedErr = System.err;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        int status;
        try {
            status = Main.run(args);
        } finally {
            System.setOut(savedOut);
            System.setErr(savedErr);
        }
        return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void badTopologyIsOneLineAndStatusTwo() {
        Run r = run("run", "--dry-run", "--cpus", "4,sockets=3");
        assertThat(r.status()).isEqualTo(2);
        assertThat(r.err().lines().toList()).containsExactly("vmm: --cpus 4,sockets=3: Invalid CPU topology: product of the hierarchy "
                + "must match maxcpus: sockets (3) * dies (1) * cores (1) * threads (1) != maxcpus (4)");
        assertThat(run("run", "--dry-run", "--cpus", "2,dies=2").status()).isEqualTo(2);
        assertThat(run("run", "--dry-run", "--cpus", "0").status()).isEqualTo(2);
    }

    @Test
    void dryRunShowsTheTopology() {
        Run r = run("run", "--dry-run", "--machine", "q35", "--cpus", "4,maxcpus=6,sockets=2,cores=3");
        assertThat(r.status()).as(r.err()).isZero();
        assertThat(r.out()).contains("cpu: host, 4 vCPUs")
                .contains("topology: 4 present of 6 possible (sockets=2, cores=3, threads=1), APIC ids [0, 1, 2, 4, 5, 6]");
        Run plain = run("run", "--dry-run", "--cpus", "3");
        assertThat(plain.status()).isZero();
        assertThat(plain.out()).contains("cpu: host, 3 vCPUs").doesNotContain("topology:");
    }
}
