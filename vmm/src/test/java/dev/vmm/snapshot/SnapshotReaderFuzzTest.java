package dev.vmm.snapshot;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vmm.chipset.bus.InterruptLine;
import dev.vmm.chipset.legacy.CmosRtc;
import dev.vmm.chipset.legacy.I8042;
import dev.vmm.chipset.legacy.Uart16550;
import dev.vmm.migration.stream.RecordCodec;
import dev.vmm.migration.stream.StateReader;
import dev.vmm.migration.stream.StateWriter;
import dev.vmm.vcpu.VcpuState;
import dev.vmm.vcpu.VmState;
import dev.vmm.virtio.pci.VirtioPciState;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;

/**
 * Jazzer target for the snapshot file reader (also the device-state part of an incoming
 * migration): the state stream's framing (magic, format version, section tags, names, versions,
 * lengths, checksums) and the section decoders that run without KVM: {@code machine}'s header,
 * {@code vcpu/<n>} ({@link VcpuState#read}), {@code vm} ({@link VmState#read}), the legacy devices'
 * records ({@link RecordCodec}) loaded into real {@link Uart16550} / {@link CmosRtc} / {@link I8042}
 * models, and {@code virtio/<n>} transport state ({@link VirtioPciState#read}). Sections are
 * written with valid framing and checksums unless the fuzzer says otherwise, and with payloads that
 * start from a real device's saved state. Any stream must load or fail with an IOException
 * (StateFormatException, EOF); anything else is a finding. Not covered here (they need a machine,
 * i.e. /dev/kvm): {@code ram@}, {@code pci}, {@code cpu} and applying vCPU/VM state to KVM.
 */
class SnapshotReaderFuzzTest {
    private static final String[] NAMES = {"machine", "vcpu/0", "vcpu/1", "vm", "uart/com1", "cmos", "i8042", "virtio/0", "pci", "bogus",
            "devices", "cpus", "acpi-cpuhp", "acpi-pcihp"}; // issue 15's sections (applied by HotplugStateFuzzTest)

    @FuzzTest(maxDuration = "60s")
    void sections(FuzzedDataProvider data) {
        byte[] stream;
        try {
            stream = write(data);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        Uart16550 uart = new Uart16550(InterruptLine.none(), b -> { });
        CmosRtc cmos = new CmosRtc(Clock.fixed(Instant.parse("2026-01-01T00:00:00Z"), ZoneOffset.UTC), InterruptLine.none(), 128 << 20, 0);
        I8042 kbd = new I8042(InterruptLine.none(), InterruptLine.none(), () -> { });
        try (StateReader r = new StateReader(new ByteArrayInputStream(stream))) {
            r.readAll(new StateReader.Handler() {
                @Override
                public int maxVersion(String name) {
                    if (name.startsWith("ram@")) return 1;
                    if (name.equals("machine")) return 2;
                    return Snapshot.deviceSectionVersion(name);
                }

                @Override
                public void read(String name, int version, long length, DataInputStream in) throws IOException {
                    switch (name) {
                        case "machine" -> {
                            in.readLong();
                            in.readInt();
                            if (version >= 2) in.readUTF();
                        }
                        case "vm" -> VmState.read(in);
                        case "uart/com1" -> uart.restore(RecordCodec.read(in, Uart16550.State.class));
                        case "cmos" -> cmos.restore(Snapshot.readCmos(in, version));
                        case "i8042" -> kbd.restore(RecordCodec.read(in, I8042.State.class));
                        default -> {
                            if (name.startsWith("vcpu/")) VcpuState.read(in);
                            else if (name.startsWith("virtio/")) VirtioPciState.read(in);
                            else if (name.equals("devices")) dev.vmm.snapshot.devices.DeviceManifest.read(in);
                            else if (name.equals("cpus")) dev.vmm.snapshot.devices.HotplugState.Cpus.read(in);
                            else if (name.equals("acpi-cpuhp")) RecordCodec.read(in, dev.vmm.chipset.acpi.AcpiCpuHotplug.State.class);
                            else if (name.equals("acpi-pcihp")) RecordCodec.read(in, dev.vmm.chipset.acpi.Piix4PciHotplug.State.class);
                            else in.skipNBytes(length); // pci, cpu, ram@: need a machine
                        }
                    }
                }
            });
        } catch (IOException refused) {
            // dev.vmm.migration.stream.StateFormatException, a truncated stream: the one-line refusal a user sees
        }
        // The devices must still work after whatever was loaded into them.
        uart.read(5, 1);
        cmos.write(0, 1, 0x0A);
        cmos.read(1, 1);
        kbd.read(4, 1);
    }

    /** A state stream: valid framing and checksums unless the fuzzer breaks them. */
    static byte[] write(FuzzedDataProvider data) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        if (data.consumeInt(0, 31) == 0) {
            bytes.write(data.consumeBytes(12));
        } else {
            StateWriter w = new StateWriter(bytes);
            for (int i = data.consumeInt(0, 6); i > 0 && data.remainingBytes() > 0; i--) {
                String name = data.consumeBoolean() ? data.pickValue(NAMES) : data.consumeString(16);
                byte[] payload = payload(name, data);
                int version = data.consumeBoolean() ? Math.max(1, name.equals("machine") ? 2 : Snapshot.deviceSectionVersion(name)) : data.consumeInt(0, 4);
                w.section(name, version, payload);
            }
            w.close();
        }
        byte[] s = bytes.toByteArray();
        if (data.consumeInt(0, 15) == 0 && s.length > 0) s[data.consumeInt(0, s.length - 1)] ^= (byte) data.consumeInt(1, 255);
        if (data.consumeInt(0, 15) == 0) s = java.util.Arrays.copyOf(s, data.consumeInt(0, s.length));
        return s;
    }

    /** A section payload: a real device's saved record with fuzzed fields, or raw bytes. */
    private static byte[] payload(String name, FuzzedDataProvider data) throws IOException {
        if (data.consumeBoolean()) return data.consumeBytes(data.consumeInt(0, 600));
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(b);
        switch (name) {
            case "uart/com1" -> RecordCodec.write(out, new Uart16550(InterruptLine.none(), x -> { }).state());
            case "cmos" -> RecordCodec.write(out, new CmosRtc(Clock.systemUTC(), InterruptLine.none(), 128 << 20, 0).state());
            case "i8042" -> RecordCodec.write(out, new I8042(InterruptLine.none(), InterruptLine.none(), () -> { }).state());
            case "machine" -> {
                out.writeLong(data.consumeLong());
                out.writeInt(data.consumeInt());
                out.writeUTF(data.consumeString(8));
            }
            default -> out.write(data.consumeBytes(data.consumeInt(0, 600)));
        }
        out.flush();
        byte[] p = b.toByteArray();
        // Fuzz a few bytes of the real record: lengths, counts and enum ordinals inside it.
        for (int i = data.consumeInt(0, 4); i > 0 && p.length > 0; i--) p[data.consumeInt(0, p.length - 1)] = data.consumeByte();
        return p;
    }
}
