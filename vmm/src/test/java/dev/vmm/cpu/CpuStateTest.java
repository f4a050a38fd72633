package dev.vmm.cpu;

import dev.vmm.migration.stream.StateFormatException;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The "cpu" section of snapshots and migration streams: what a destination refuses, and why. */
class CpuStateTest {
    /** A stand-in for a machine built with {@code spec}. */
    private static Object machine(String spec) {
        Object m = new Object();
        CpuState.remember(m, spec, CpuResolver.definition(CpuSpec.parse(spec)));
        return m;
    }

    private static byte[] section(Object m) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        CpuState.write(new DataOutputStream(b), m);
        return b.toByteArray();
    }

    private static void check(byte[] section, Object m) throws IOException {
        CpuState.check(new DataInputStream(new ByteArrayInputStream(section)), m);
    }

    @Test
    void sameModelPassesAndRoundTrips() throws IOException {
        Object src = machine("Haswell,+kvm-pv-unhalt");
        byte[] s = section(src);
        CpuState.Saved back = CpuState.read(new DataInputStream(new ByteArrayInputStream(s)));
        assertThat(back.spec()).isEqualTo("Haswell,+kvm-pv-unhalt");
        assertThat(CpuidBuilder.features(back.cpuid())).contains("avx2", "hle", "kvm-pv-unhalt");
        check(s, machine("Haswell,+kvm-pv-unhalt"));
        assertThat(CpuState.spec(src)).isEqualTo("Haswell,+kvm-pv-unhalt");
        assertThat(CpuState.spec(new Object())).isEqualTo("host");
    }

    @Test
    void narrowerDestinationIsRefusedWithTheMissingFeatures() throws IOException {
        byte[] s = section(machine("Haswell"));
        assertThatThrownBy(() -> check(s, machine("Haswell,-avx2,-rtm,-kvm-steal-time"))).isInstanceOf(StateFormatException.class)
                .hasMessage("this VMM's CPU (--cpu Haswell,-avx2,-rtm,-kvm-steal-time) lacks features the guest uses: "
                        + "CPUID.07H:EBX.avx2 [bit 5], CPUID.07H:EBX.rtm [bit 11], CPUID.40000001H:EAX.kvm-steal-time [bit 5]");
        // A wider destination carries the guest on.
        check(section(machine("Haswell,-avx2")), machine("Haswell"));
    }

    @Test
    void anotherProcessorIsRefused() throws IOException {
        byte[] s = section(machine("Haswell"));
        assertThatThrownBy(() -> check(s, machine("EPYC"))).isInstanceOf(StateFormatException.class)
                .hasMessageContaining("GenuineIntel family 6 model 60 stepping 4").hasMessageContaining("AuthenticAMD family 23");
    }

    @Test
    void sidesWithoutAModelAndCorruptSections() throws IOException {
        check(section(new Object()), machine("Haswell"));     // a stream from a machine without a model
        check(section(machine("Haswell")), new Object());     // a machine without a model
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream o = new DataOutputStream(b);
        o.writeUTF("Haswell");
        o.writeInt(1 << 20);
        assertThatThrownBy(() -> check(b.toByteArray(), machine("Haswell"))).isInstanceOf(StateFormatException.class)
                .hasMessageContaining("CPUID entries");
    }
}
