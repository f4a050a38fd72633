package dev.vmm.smp;

import dev.vmm.Main;
import dev.vmm.MainRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;


import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code vmm run --cpus ...} through {@code Main.run} (no KVM: {@code --dry-run}): a topology QEMU
 * refuses is status 2 with one line, a hot-pluggable one is shown by the dry run, plain
 * {@code --cpus N} prints what it printed before (no topology line).
 */
@Timeout(60)
class SmpOptionTest {

    @Test
    void badTopologyIsOneLineAndStatusTwo() {
        MainRun r = MainRun.run("run", "--dry-run", "--cpus", "4,sockets=3");
        assertThat(r.status()).isEqualTo(2);
        assertThat(r.err().lines().toList()).containsExactly("vmm: --cpus 4,sockets=3: Invalid CPU topology: product of the hierarchy "
                + "must match maxcpus: sockets (3) * dies (1) * cores (1) * threads (1) != maxcpus (4)");
        assertThat(MainRun.run("run", "--dry-run", "--cpus", "2,dies=2").status()).isEqualTo(2);
        assertThat(MainRun.run("run", "--dry-run", "--cpus", "0").status()).isEqualTo(2);
    }

    @Test
    void dryRunShowsTheTopology() {
        MainRun r = MainRun.run("run", "--dry-run", "--machine", "q35", "--cpus", "4,maxcpus=6,sockets=2,cores=3");
        assertThat(r.status()).as(r.err()).isZero();
        assertThat(r.out()).contains("cpu: host, 4 vCPUs")
                .contains("topology: 4 present of 6 possible (sockets=2, cores=3, threads=1), APIC ids [0, 1, 2, 4, 5, 6]");
        MainRun plain = MainRun.run("run", "--dry-run", "--cpus", "3");
        assertThat(plain.status()).isZero();
        assertThat(plain.out()).contains("cpu: host, 3 vCPUs").doesNotContain("topology:");
    }
}
