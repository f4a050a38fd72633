package dev.vmm.block.qcow2;

import dev.vmm.block.ImageFile;
import dev.vmm.block.ImageFormatException;
import dev.vmm.block.QemuTools;

import java.io.IOException;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * One (usually damaged) image header read by both sides: what {@code qemu-img info --output=json}
 * answered, and our {@link Qcow2Header} or our refusal.
 */
record HeaderVerdict(QemuTools.Result qemu, Qcow2Header ours, String error) {
    static HeaderVerdict of(Path img) throws IOException {
        QemuTools.Result q = QemuTools.exec("qemu-img", "info", "-U", "--output=json", img.toString());
        try (ImageFile file = ImageFile.open(img, true, false)) {
            return new HeaderVerdict(q, Qcow2Header.read(file), null);
        } catch (ImageFormatException e) {
            return new HeaderVerdict(q, null, e.getMessage());
        }
    }

    /**
     * Asserts that we accept the header exactly when qemu-img does, and that a refusal is one line.
     *
     * @return whether both accepted it (so its fields can be compared)
     */
    boolean sameAcceptance(String what) {
        assertThat(ours != null).as("%s: we accept (our error: %s) iff qemu-img info does (%s)", what, error, qemu.err().strip())
                .isEqualTo(qemu.exit() == 0);
        if (ours == null) assertThat(error).doesNotContain("\n");
        return ours != null;
    }
}
