package dev.vmm.migration.stream;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class StateStreamTest {
    record Sample(int a, long b, boolean c, byte[] d) {
        Sample {
            if (a < 0) throw new IllegalArgumentException("a must not be negative");
        }
    }

    private static byte[] stream(Sample s) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (StateWriter w = new StateWriter(bos)) {
            ByteArrayOutputStream p = new ByteArrayOutputStream();
            RecordCodec.write(new java.io.DataOutputStream(p), s);
            w.section("sample", 1, p.toByteArray());
            w.section("blob", 2, 3, o -> o.write(new byte[] {1, 2, 3}));
        }
        return bos.toByteArray();
    }

    private static List<Object> readBack(byte[] b, int maxSample) throws IOException {
        List<Object> got = new ArrayList<>();
        try (StateReader r = new StateReader(new ByteArrayInputStream(b))) {
            r.readAll(new StateReader.Handler() {
                public int maxVersion(String name) {
                    return switch (name) {
                        case "sample" -> maxSample;
                        case "blob" -> 2;
                        default -> -1;
                    };
                }

                public void read(String name, int version, long length, DataInputStream in) throws IOException {
                    if (name.equals("sample")) got.add(RecordCodec.read(in, Sample.class));
                    else got.add(in.readNBytes((int) length));
                }
            });
        }
        return got;
    }

    @Test
    void roundTrip() throws IOException {
        List<Object> got = readBack(stream(new Sample(7, -3L, true, new byte[] {9, 8})), 1);
        Sample s = (Sample) got.get(0);
        assertThat(s.a()).isEqualTo(7);
        assertThat(s.b()).isEqualTo(-3L);
        assertThat(s.c()).isTrue();
        assertThat(s.d()).containsExactly(9, 8);
        assertThat((byte[]) got.get(1)).containsExactly(1, 2, 3);
    }

    @Test
    void corruptionIsDetected() throws IOException {
        byte[] good = stream(new Sample(7, 1, false, new byte[] {5}));
        byte[] flipped = good.clone();
        flipped[good.length - 7] ^= 0x40;    // a byte of the last payload: end marker (1) + CRC (4) + 2
        assertThatThrownBy(() -> readBack(flipped, 1)).isInstanceOf(StateFormatException.class).hasMessageContaining("checksum");
        assertThatThrownBy(() -> readBack(java.util.Arrays.copyOf(good, good.length - 5), 1))
                .isInstanceOf(StateFormatException.class).hasMessageContaining("truncated");
        assertThatThrownBy(() -> readBack("NOTSTATE....".getBytes(), 1)).hasMessageContaining("bad magic");
    }

    @Test
    void newerOrUnknownSectionsAreRefusedClearly() throws IOException {
        byte[] good = stream(new Sample(7, 1, false, new byte[0]));
        assertThatThrownBy(() -> readBack(good, 0)).isInstanceOf(StateFormatException.class)
                .hasMessage("section 'sample' has version 1, this vmm reads up to 0");
    }

    @Test
    void deviceValidationRejectsImpossibleState() throws IOException {
        ByteArrayOutputStream p = new ByteArrayOutputStream();
        java.io.DataOutputStream o = new java.io.DataOutputStream(p);
        o.writeInt(-1); o.writeLong(0); o.writeBoolean(false); o.writeInt(0);
        assertThatThrownBy(() -> RecordCodec.read(new DataInputStream(new ByteArrayInputStream(p.toByteArray())), Sample.class))
                .isInstanceOf(StateFormatException.class).hasMessage("Sample state rejected: a must not be negative");
    }
}
