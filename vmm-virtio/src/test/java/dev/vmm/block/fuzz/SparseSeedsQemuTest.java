package dev.vmm.block.fuzz;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.BlockException;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import dev.vmm.block.QemuTools;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The sparse seeds of the VHDX and fixed-VPC targets are real images: decoded by
 * {@link SparseImageInput}, QEMU opens each one (or refuses it: the VHDX with a pending log) and our
 * parser gives the same answer, the same contents for those that open. So the fuzzer starts from
 * inputs that pass every check, and a broken encoder cannot leave the targets at the signature again.
 */
class SparseSeedsQemuTest {
    private static final String INPUTS = "/dev/vmm/block/fuzz/ImageParserFuzzTestInputs/";

    @TempDir Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"vhdx/qemu-dynamic", "vhdx/qemu-fixed", "vhdx/qemu-data", "vpcSparse/qemu-fixed",
            "vpcSparse/qemu-dynamic", "vpcSparse/qemu-dynamic-data"})
    @Timeout(120)
    void seedReadsAsQemuReadsIt(String seed) throws IOException {
        QemuTools.assumeAvailable();
        Path image = decode(seed);
        String format = seed.startsWith("vhdx") ? "vhdx" : "vpc";
        byte[] expected = QemuTools.toRaw(image, format, tmp);
        assertTrue(expected.length >= 1 << 20, "QEMU sees a disk of " + expected.length + " bytes");
        try (BlockDevice d = Images.open(image, new Images.Options(true, ImageFormat.byName(format), false, false))) {
            assertEquals(expected.length, d.size());
            byte[] actual = new byte[expected.length];
            d.read(0, MemorySegment.ofArray(actual));
            assertArrayEquals(expected, actual);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"vhdx/qemu-log"})
    @Timeout(60)
    void pendingLogIsRefusedAsQemuRefusesIt(String seed) throws IOException {
        QemuTools.assumeAvailable();
        Path image = decode(seed);
        QemuTools.Result info = QemuTools.exec("qemu-img", "info", "-f", "vhdx", image.toString());
        assertEquals(1, info.exit(), info.out());
        assertTrue(info.err().contains("log that needs to be replayed"), info.err());
        BlockException e = assertThrows(BlockException.class,
                () -> Images.open(image, new Images.Options(true, ImageFormat.VHDX, false, false)).close());
        assertTrue(e.getMessage().contains("log"), e.getMessage());
    }

    private Path decode(String seed) throws IOException {
        byte[] input;
        try (InputStream in = getClass().getResourceAsStream(INPUTS + seed)) {
            assertTrue(in != null, "missing seed " + seed);
            input = in.readAllBytes();
        }
        Path image = tmp.resolve(seed.replace('/', '-'));
        Files.createFile(image);
        SparseImageInput.write(input, image);
        return image;
    }
}
