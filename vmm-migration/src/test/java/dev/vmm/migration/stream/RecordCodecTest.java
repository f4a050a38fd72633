package dev.vmm.migration.stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.lang.management.ManagementFactory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A byte[] component's length comes from the stream (a migration source, a snapshot file): the
 * reader must not allocate what the stream only claims. Found by profiling HotplugStateFuzzTest
 * (session 8): a 4-byte length of 1 MiB followed by a few bytes made every read allocate and zero
 * 1 MiB before failing at EOF.
 */
class RecordCodecTest {
    record Blob(int a, byte[] data) { }

    private static byte[] record(int a, int claimedLength, byte[] sent) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.writeInt(a);
        out.writeInt(claimedLength);
        out.write(sent);
        return bytes.toByteArray();
    }

    private static long allocatedByThisThread() {
        return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean()).getCurrentThreadAllocatedBytes();
    }

    @Test
    @Timeout(60)
    void aClaimedArrayLongerThanTheStreamFailsAtEofWithoutAllocatingTheClaim() throws IOException {
        byte[] hostile = record(1, 1 << 20, new byte[] {1, 2, 3, 4}); // 12 bytes claiming 1 MiB
        int reads = 200;
        long before = allocatedByThisThread();
        for (int i = 0; i < reads; i++) {
            try {
                RecordCodec.read(new DataInputStream(new ByteArrayInputStream(hostile)), Blob.class);
            } catch (EOFException expected) {
                // the refusal
            }
        }
        long perRead = (allocatedByThisThread() - before) / reads;
        // Allocating the claim costs >= 1 MiB per read; reading what arrives costs a chunk at most.
        assertThat(perRead).as("bytes allocated per hostile read").isLessThan(64 << 10);
        assertThatThrownBy(() -> RecordCodec.read(new DataInputStream(new ByteArrayInputStream(hostile)), Blob.class))
                .isInstanceOf(EOFException.class).hasMessageContaining("Blob").hasMessageContaining("1048576");
    }

    @Test
    void arraysUpToTheLimitStillRoundTrip() throws IOException {
        byte[] data = new byte[1 << 20];
        for (int i = 0; i < data.length; i++) data[i] = (byte) (i * 31 + 7);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        RecordCodec.write(new DataOutputStream(bytes), new Blob(5, data));
        Blob back = RecordCodec.read(new DataInputStream(new ByteArrayInputStream(bytes.toByteArray())), Blob.class);
        assertThat(back.a()).isEqualTo(5);
        assertThat(back.data()).isEqualTo(data);
        assertThatThrownBy(() -> RecordCodec.read(new DataInputStream(new ByteArrayInputStream(record(1, (1 << 20) + 1, new byte[0]))), Blob.class))
                .isInstanceOf(StateFormatException.class).hasMessage("Blob: implausible array length 1048577");
    }
}
