package dev.vmm.cli;

import dev.vmm.error.UserFixable;
import dev.vmm.machine.DryRun;
import dev.vmm.machine.MachineBuilder;
import dev.vmm.machine.PreparedMachine;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@code --pcie-root-port} and {@code bus=}/{@code addr=}: the dry run (no KVM) places every function
 * where it would go and assigns bus numbers as firmware would; mistakes are one-line user errors.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class PcieTopologyOptionsTest {
    @TempDir
    Path dir;

    private String dryRun(String... args) {
        RunCommand r = new RunCommand();
        new CommandLine(r).parseArgs(args);
        try (PreparedMachine p = new MachineBuilder().prepare(r.config())) {
            return DryRun.describe(p, "host");
        }
    }

    private String disk(String name) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, new byte[1 << 20]);
        return p.toString();
    }

    private static List<String> pciLines(String dryRun) {
        List<String> out = new ArrayList<>();
        boolean in = false;
        for (String l : dryRun.split("\n")) {
            if (l.startsWith("pci:")) in = true;
            else if (in) out.add(l);
        }
        return out;
    }

    @Test
    void devicesBehindRootPortsAreEndpointsOnTheirOwnBuses() throws IOException {
        String out = dryRun("--machine", "q35", "--pcie-root-port", "id=rp1,chassis=1,slot=1,addr=2",
                "--pcie-root-port", "id=rp2,chassis=1,slot=2,addr=2.1", "--pcie-root-port", "id=rp3,chassis=2",
                "--disk", "path=" + disk("a.img") + ",bus=rp1", "--disk", "path=" + disk("b.img") + ",bus=rp2,addr=0",
                "--disk", "path=" + disk("c.img") + ",addr=5");
        List<String> pci = pciLines(out);
        assertThat(out).contains("pci: (pcie.0)");
        // rp3 (no addr) takes the first free root slot, 00:01.0, and so the first bus number (depth first, as
        // firmware numbers them); its physical slot number is the first free one of its chassis. Empty, it still has a bus.
        assertThat(pci).containsSubsequence("  00:01.0 pcie-root-port id=rp3 chassis=2 slot=1 [bus 01-01] pcie",
                "  00:02.0 pcie-root-port id=rp1 chassis=1 slot=1 [bus 02-02] pcie");
        assertThat(pci).anySatisfy(l -> assertThat(l).startsWith("    02:00.0 virtio-blk-pci").contains("a.img").endsWith("(pcie endpoint)"));
        assertThat(pci).anySatisfy(l -> assertThat(l).startsWith("  00:02.1 pcie-root-port id=rp2 chassis=1 slot=2 [bus 03-03] pcie"));
        assertThat(pci).anySatisfy(l -> assertThat(l).startsWith("    03:00.0 virtio-blk-pci").contains("b.img"));
        assertThat(pci).anySatisfy(l -> assertThat(l).startsWith("  00:05.0 virtio-blk-pci").doesNotContain("pcie endpoint"));
    }

    @Test
    void pcKeepsItsDefaultPlacementAndTakesAddr() throws IOException {
        String out = dryRun("--disk", "path=" + disk("a.img"), "--disk", "path=" + disk("b.img") + ",addr=0x1f,bus=pci.0");
        assertThat(out).contains("pci: (pci.0)");
        assertThat(pciLines(out)).anySatisfy(l -> assertThat(l).startsWith("  00:1f.0 virtio-blk-pci"))
                .anySatisfy(l -> assertThat(l).startsWith("  00:01.0 virtio-blk-pci"));
    }

    @Test
    void mistakesAreOneLineUserErrors() throws IOException {
        String a = disk("a.img");
        assertThatThrownBy(() -> dryRun("--pcie-root-port", "id=rp1")).isInstanceOf(UserFixable.class)
                .hasMessage("--pcie-root-port needs --machine q35");
        assertThatThrownBy(() -> dryRun("--machine", "q35", "--disk", "path=" + a + ",bus=nope")).isInstanceOf(UserFixable.class)
                .hasMessage("Bus 'nope' not found");
        assertThatThrownBy(() -> dryRun("--disk", "path=" + a + ",bus=pcie.0")).isInstanceOf(UserFixable.class)
                .hasMessage("Bus 'pcie.0' not found");
        assertThatThrownBy(() -> dryRun("--machine", "q35", "--pcie-root-port", "id=rp1", "--disk", "path=" + a + ",bus=rp1,addr=1"))
                .isInstanceOf(UserFixable.class).hasMessageContaining("reserved for PCIe devices");
        assertThatThrownBy(() -> dryRun("--machine", "q35", "--pcie-root-port", "id=rp1", "--disk", "path=" + a + ",bus=rp1",
                "--disk", "path=" + disk("b.img") + ",bus=rp1")).isInstanceOf(UserFixable.class)
                .hasMessageContaining("slot 0 function 0 not available for virtio-blk-pci");
        assertThatThrownBy(() -> dryRun("--disk", "path=" + a + ",addr=0")).isInstanceOf(UserFixable.class)
                .hasMessageContaining("PCI: slot 0 function 0 not available");
        assertThatThrownBy(() -> dryRun("--machine", "q35", "--pcie-root-port", "id=rp1,slot=3", "--pcie-root-port", "id=rp2,slot=3"))
                .isInstanceOf(UserFixable.class).hasMessageContaining("chassis 0 slot 3 is taken");
        assertThatThrownBy(() -> dryRun("--machine", "q35", "--pcie-root-port", "id=rp1", "--pcie-root-port", "id=rp1"))
                .isInstanceOf(UserFixable.class).hasMessage("Duplicate ID 'rp1' for device");
        assertThatThrownBy(() -> dryRun("--disk", "path=" + a + ",addr=20")).isInstanceOf(UserFixable.class)
                .hasMessage("--disk: addr=20: slot must be 0..1f");
        assertThatThrownBy(() -> dryRun("--disk", "path=" + a + ",addr=1.8")).isInstanceOf(UserFixable.class)
                .hasMessage("--disk: addr=1.8: function must be 0..7");
        assertThatThrownBy(() -> dryRun("--disk", "path=" + a + ",bus=pci.0,bus=pci.0")).isInstanceOf(UserFixable.class)
                .hasMessage("--disk: 'bus' given twice");
    }
}
