package dev.vmm.block.nbd;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static dev.vmm.block.nbd.NbdTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Our client against nbdkit's blocksize-policy filter in its strict mode
 * ({@code blocksize-error-policy=error}): nbdkit advertises NBD_INFO_BLOCK_SIZE limits and answers
 * EINVAL to any request that breaks them, so a client that ignores the advertised maximum fails
 * here. The bytes that land are compared with the file nbdkit serves.
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NbdBlockLimitsInteropTest {
    @TempDir Path tmp;
    private Process server;

    @AfterEach
    void stopServer() throws InterruptedException { stop(server); }

    @Test
    void requestsStayWithinTheServersMaximumPayload() throws Exception {
        assume("nbdkit");
        Path file = tmp.resolve("f.raw");
        Files.write(file, new byte[1 << 20]);
        Path sock = tmp.resolve("p.sock");
        server = startServer(sock, List.of("nbdkit", "-f", "-U", sock.toString(), "--filter=blocksize-policy", "file", "file=" + file,
                "blocksize-minimum=512", "blocksize-preferred=512", "blocksize-maximum=2048", "blocksize-error-policy=error"));
        byte[] data = new byte[3 * 4096 + 512];
        new Random(12).nextBytes(data);
        try (NbdBlockDevice d = NbdBlockDevice.open(NbdUri.parse("nbd+unix:///?socket=" + sock), false)) {
            d.write(4096, MemorySegment.ofArray(data));
            byte[] back = new byte[data.length];
            d.read(4096, MemorySegment.ofArray(back));
            assertThat(back).isEqualTo(data);
            d.writeZeroes(4096 + 1024, 1024, false);
            java.util.Arrays.fill(data, 1024, 2048, (byte) 0);
            d.flush();
        }
        byte[] onDisk = Files.readAllBytes(file);
        assertThat(java.util.Arrays.copyOfRange(onDisk, 4096, 4096 + data.length)).isEqualTo(data);
    }
}
