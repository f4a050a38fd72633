package dev.vmm.cpu;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vmm.Main;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/** {@code vmm cpuid}: the model's definition when there is no /dev/kvm (as on this project's build hosts). */
class CpuidCommandTest {
    private record Run(int status, String out, String err) {}

    private static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        PrintStream so = System.out, se = System.err;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int s = Main.run(args);
            return new Run(s, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(so);
            System.setErr(se);
        }
    }

    @Test
    void jsonIsOneArrayOfNumbersForTheModel() throws Exception {
        assumeFalse(Files.exists(Path.of("/dev/kvm")), "with /dev/kvm the output is filtered against the host");
        Run r = run("cpuid", "--cpu", "Opteron_G5", "--json");
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
        Run r = run("cpuid", "--cpu", "Haswell,-avx2");
        assertThat(r.status()).isZero();
        assertThat(r.out()).contains("the model's definition").contains("0x00000007 0x00: eax=0x00000000 ebx=0x");
        Run help = run("cpuid", "--cpu", "help");
        assertThat(help.out()).contains("Haswell-noTSX").contains("EPYC-Milan");
        Run host = run("cpuid");
        assertThat(host.status()).as("host needs /dev/kvm: a host problem").isEqualTo(1);
        assertThat(host.err().lines().toList()).hasSize(1);
        assertThat(host.err()).contains("needs /dev/kvm");
    }
}
