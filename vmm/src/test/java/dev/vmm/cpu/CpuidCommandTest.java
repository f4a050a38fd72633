package dev.vmm.cpu;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vmm.MainRun;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/** {@code vmm cpuid}: the model's definition when there is no /dev/kvm (as on this project's build hosts). */
class CpuidCommandTest {

    @Test
    void jsonIsOneArrayOfNumbersForTheModel() throws Exception {
        assumeFalse(Files.exists(Path.of("/dev/kvm")), "with /dev/kvm the output is filtered against the host");
        MainRun r = MainRun.run("cpuid", "--cpu", "Opteron_G5", "--json");
        assertThat(r.status()).as(r.err()).isZero();
        JsonNode a = new ObjectMapper().readTree(r.out());
        assertThat(a.isArray()).isTrue();
        JsonNode leaf7 = null, leaf0 = null, ext1 = null;
        for (JsonNode e : a) {
            assertThat(e.size()).isEqualTo(6);
            for (String k : new String[]{"function", "index", "eax", "ebx", "ecx", "edx"}) assertThat(e.get(k).isNumber()).as(k).isTrue();
            if (e.get("function").asLong() == 0) leaf0 = e;
            if (e.get("function").asLong() == 0x80000001L) ext1 = e;
            if (e.get("function").asLong() == 7) leaf7 = e;
        }
        assertThat(leaf0).isNotNull();
        assertThat(leaf7.get("ebx").asLong()).as("Opteron_G5 has level 0xd but no leaf-7 features").isZero();
        CpuFeatures.Feature fma = CpuFeatures.get("fma"), tbm = CpuFeatures.get("tbm");
        assertThat(ext1.get("ecx").asLong() & tbm.mask()).isNotZero();
        JsonNode leaf1 = null;
        for (JsonNode e : a) if (e.get("function").asLong() == 1) leaf1 = e;
        assertThat(leaf1.get("ecx").asLong() & fma.mask()).isNotZero();
        assertThat(leaf1.get("ecx").asLong() & (1L << 31)).as("hypervisor bit, unsigned").isNotZero();
    }

    @Test
    void textListsLeavesAndHelpListsModels() {
        assumeFalse(Files.exists(Path.of("/dev/kvm")), "with /dev/kvm the output is filtered against the host");
        MainRun r = MainRun.run("cpuid", "--cpu", "Haswell,-avx2");
        assertThat(r.status()).isZero();
        assertThat(r.out()).contains("the model's definition").contains("0x00000007 0x00: eax=0x00000000 ebx=0x");
        MainRun help = MainRun.run("cpuid", "--cpu", "help");
        assertThat(help.out()).contains("Haswell-noTSX").contains("EPYC-Milan");
        MainRun host = MainRun.run("cpuid");
        assertThat(host.status()).as("host needs /dev/kvm: a host problem").isEqualTo(1);
        assertThat(host.err().lines().toList()).hasSize(1);
        assertThat(host.err()).contains("needs /dev/kvm");
    }
}
