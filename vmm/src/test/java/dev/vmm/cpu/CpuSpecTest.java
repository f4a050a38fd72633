package dev.vmm.cpu;

import dev.vmm.Main;
import dev.vmm.cli.UsageException;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Issue 14, test 3: --cpu parsing, and status 2 with close names for unknown models and features. */
class CpuSpecTest {
    @Test
    void modelWithFeaturesInEveryForm() {
        CpuSpec s = CpuSpec.parse("Haswell-noTSX,+hle,rtm=on,avx2=off,-movbe,kvm-pv-ipi,enforce");
        assertThat(s.model()).isEqualTo("Haswell-noTSX");
        assertThat(s.features()).containsEntry("hle", true).containsEntry("rtm", true)
                .containsEntry("avx2", false).containsEntry("movbe", false).containsEntry("kvm-pv-ipi", true);
        assertThat(s.enforce()).isTrue();
        assertThat(s.isHost()).isFalse();
        assertThat(CpuSpec.parse("host").isHost()).isTrue();
        assertThat(CpuSpec.parse("max").isHost()).isTrue();
    }

    @Test
    void qemuSpellingsMapToOneName() {
        CpuSpec s = CpuSpec.parse("Penryn,+sse4_2,sse4-1=off,+lahf_lm,kvm_pv_eoi=off,+sse3");
        assertThat(s.features()).containsEntry("sse4.2", true).containsEntry("sse4.1", false)
                .containsEntry("lahf-lm", true).containsEntry("kvm-pv-eoi", false).containsEntry("pni", true);
    }

    @Test
    void minusWinsOverPlusAndOn() {
        assertThat(CpuSpec.parse("Haswell,-avx2,+avx2").features()).containsEntry("avx2", false);
        assertThat(CpuSpec.parse("Haswell,-avx2,avx2=on").features()).containsEntry("avx2", false);
        assertThat(CpuSpec.parse("Haswell,avx2=off,+avx2").features()).containsEntry("avx2", true);
    }

    @Test
    void unknownModelSuggestsCloseNames() {
        assertThatThrownBy(() -> CpuSpec.parse("Haswel")).isInstanceOf(UsageException.class)
                .hasMessageContaining("unknown CPU model 'Haswel'").hasMessageContaining("did you mean Haswell");
        assertThatThrownBy(() -> CpuSpec.parse("opteron_g5")).hasMessageContaining("Opteron_G5");
        assertThatThrownBy(() -> CpuSpec.parse("Skylake")).hasMessageContaining("Skylake-Client")
                .hasMessageContaining("Skylake-Server");
        assertThatThrownBy(() -> CpuSpec.parse("xyzzy")).hasMessage("--cpu: unknown CPU model 'xyzzy'; '--cpu help' lists the models");
    }

    @Test
    void unknownFeatureSuggestsCloseNames() {
        assertThatThrownBy(() -> CpuSpec.parse("Haswell,+avx3")).isInstanceOf(UsageException.class)
                .hasMessageContaining("unknown CPU feature 'avx3'").hasMessageContaining("avx2");
        assertThatThrownBy(() -> CpuSpec.parse("Haswell,hv-relax")).hasMessageContaining("hv-relaxed");
        assertThatThrownBy(() -> CpuSpec.parse("Haswell,kvm-pv-ip=on")).hasMessageContaining("kvm-pv-ipi");
    }

    @Test
    void badValuesAreOneLine() {
        assertThatThrownBy(() -> CpuSpec.parse("Haswell,avx2=maybe")).hasMessage("--cpu: avx2 takes on or off, not 'maybe'");
        assertThatThrownBy(() -> CpuSpec.parse("Haswell,,avx2")).hasMessageContaining("empty item");
        assertThatThrownBy(() -> CpuSpec.parse("")).hasMessageContaining("empty CPU model");
        assertThatThrownBy(() -> CpuSpec.parse("Haswell,hv-spinlocks=lots")).hasMessageContaining("takes a number");
        assertThatThrownBy(() -> CpuSpec.parse("Haswell,hv-spinlocks=10")).hasMessageContaining("between 0xfff");
    }

    @Test
    void hyperVFlagsAndTheirDependencies() {
        CpuSpec s = CpuSpec.parse("host,hv-relaxed,hv-vpindex,hv-synic,hv-spinlocks=0x1fff");
        assertThat(s.hyperV().flags()).containsExactlyInAnyOrder(HyperV.Flag.RELAXED, HyperV.Flag.VPINDEX,
                HyperV.Flag.SYNIC, HyperV.Flag.SPINLOCKS);
        assertThat(s.hyperV().spinlocks()).isEqualTo(0x1fff);
        assertThatThrownBy(() -> CpuSpec.parse("host,hv-synic")).isInstanceOf(UsageException.class)
                .hasMessage("--cpu: hv-synic needs hv-vpindex (Hyper-V SynIC requires VP_INDEX)");
        assertThat(CpuSpec.parse("host,hv-passthrough").hyperV().passthrough()).isTrue();
    }

    @Test
    void theBinaryExitsWithStatusTwoAndOneLine() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream saved = System.err;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        int status, status2;
        try {
            status = Main.run("cpuid", "--cpu", "Haswel");
            status2 = Main.run("run", "--cpu", "Haswell,+avx3");
        } finally {
            System.setErr(saved);
        }
        String text = err.toString(StandardCharsets.UTF_8);
        assertThat(status).isEqualTo(2);
        assertThat(status2).isEqualTo(2);
        assertThat(text.lines().toList()).containsExactly(
                "vmm: --cpu: unknown CPU model 'Haswel' (did you mean Haswell, Haswell-noTSX?); '--cpu help' lists the models",
                "vmm: --cpu: unknown CPU feature 'avx3' (did you mean avx, avx2?)");
    }

    @Test
    void helpListsEveryModel() {
        String help = CpuSpec.help();
        for (String name : CpuModels.names()) assertThat(help).contains("  " + name + " ");
        assertThat(help).contains("Intel Core Processor (Haswell)").contains("hv-stimer-direct").contains("kvm-pv-tlb-flush");
    }
}
