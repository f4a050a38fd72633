package dev.vmm.block;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@link ImageFile#releaseLock()} and {@link ImageFile#acquireLock()}: the live-migration lock
 * hand-over on the image's own descriptor. The witnesses are other open file descriptions — a
 * second {@link ImageFile} in this JVM and qemu-io in its own process (it takes QEMU's own locks
 * when it opens an image, and refuses one whose lock another process holds) — so what is checked
 * is what another VMM would see.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ImageFileLockHandOverTest {
    @TempDir
    Path dir;

    private Path image() throws IOException {
        return Files.write(dir.resolve("disk.img"), new byte[1 << 20]);
    }

    /** Whether a second open file description could take the write lock now. */
    private static boolean freeForASecondOpener(Path img) {
        try (ImageFile other = ImageFile.open(img, false, true)) {
            return true;
        } catch (ImageLockedException e) {
            assertThat(e.getMessage()).isEqualTo("cannot lock " + img + ": it is in use by another process");
            return false;
        }
    }

    private static boolean hasTool(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, tool))) return true;
        }
        return false;
    }

    /**
     * qemu-io in its own process opens the image read-only (taking QEMU's locks, which a held
     * write lock refuses) and reads a sector: its exit status and what it printed. (qemu-img info
     * would not do: it looks at an image without locking it.)
     */
    private static ProcessResult qemuIoRead(Path img) throws Exception {
        Process p = new ProcessBuilder("qemu-io", "-r", "-f", "raw", "-c", "read 0 512", img.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        return new ProcessResult(p.exitValue(), out);
    }

    private record ProcessResult(int status, String output) { }

    @Test
    void aSecondDescriptorSeesTheLockReleasedAndTakenAgain() throws Exception {
        Path img = image();
        try (ImageFile f = ImageFile.open(img, false, true)) {
            assertThat(f.locked()).isTrue();
            assertThat(freeForASecondOpener(img)).as("held after open").isFalse();

            f.write(0, "before".getBytes(StandardCharsets.US_ASCII));
            f.releaseLock();
            assertThat(f.locked()).isFalse();
            assertThat(freeForASecondOpener(img)).as("released").isTrue();
            try (ImageFile other = ImageFile.open(img, true, true)) {
                assertThat(new String(other.readBytes(0, 6), StandardCharsets.US_ASCII)).as("the write before the release").isEqualTo("before");
            }
            f.releaseLock(); // a second release changes nothing
            assertThat(freeForASecondOpener(img)).isTrue();

            f.acquireLock();
            assertThat(f.locked()).isTrue();
            assertThat(freeForASecondOpener(img)).as("taken again").isFalse();
            f.acquireLock(); // held already: nothing happens
            assertThat(f.locked()).isTrue();
            f.write(6, "after".getBytes(StandardCharsets.US_ASCII)); // the same descriptor all along
            assertThat(new String(f.readBytes(0, 11), StandardCharsets.US_ASCII)).isEqualTo("beforeafter");
        }
        assertThat(freeForASecondOpener(img)).as("closing drops it").isTrue();
    }

    @Test
    void anotherProcessSeesTheLockReleasedAndTakenAgain() throws Exception {
        assumeTrue(hasTool("qemu-io"), "qemu-io is not installed (apt-get install qemu-utils)");
        Path img = image();
        try (ImageFile f = ImageFile.open(img, false, true)) {
            ProcessResult held = qemuIoRead(img);
            assertThat(held.status()).as(held.output()).isNotZero();
            assertThat(held.output()).contains("lock");

            f.releaseLock();
            ProcessResult free = qemuIoRead(img);
            assertThat(free.status()).as(free.output()).isZero();
            assertThat(free.output()).contains("read 512/512 bytes");

            f.acquireLock();
            ProcessResult again = qemuIoRead(img);
            assertThat(again.status()).as(again.output()).isNotZero();
            assertThat(again.output()).isEqualTo(held.output());
        }
    }

    @Test
    void acquiringWhileAnotherHolderHasItFailsInOneLineAndTheImageStaysUsable() throws Exception {
        Path img = image();
        try (ImageFile f = ImageFile.open(img, false, true)) {
            f.releaseLock();
            try (ImageFile other = ImageFile.open(img, false, true)) {
                assertThatThrownBy(f::acquireLock).isInstanceOf(ImageLockedException.class)
                        .hasMessage("cannot lock " + img + ": it is in use by another process");
                assertThat(f.locked()).isFalse();
                f.write(0, new byte[] {1, 2, 3});
                assertThat(f.readBytes(0, 3)).containsExactly(1, 2, 3);
                f.sync();
            }
            f.acquireLock(); // the other holder is gone
            assertThat(f.locked()).isTrue();
            assertThat(freeForASecondOpener(img)).isFalse();
        }
    }

    @Test
    void acquiringWhileAnotherProcessHasTheImageOpenFailsAndTheImageStaysUsable() throws Exception {
        assumeTrue(hasTool("qemu-io"), "qemu-io is not installed (apt-get install qemu-utils)");
        Path img = image();
        try (ImageFile f = ImageFile.open(img, false, false)) { // as an incoming migration opens it
            // qemu-io opens the image read-write (QEMU's locks), writes a marker, then holds it open.
            // The marker says its open is complete; waiting for it takes no lock, whereas a probe
            // that locked could make qemu-io's own open fail.
            Path log = dir.resolve("qemu-io.log");
            Process qemuIo = new ProcessBuilder("qemu-io", "-f", "raw", "-c", "write -P 0x55 0 512", "-c", "sleep 60000", img.toString())
                    .redirectErrorStream(true).redirectOutput(log.toFile()).start();
            try {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (f.readBytes(0, 1)[0] != 0x55) {
                    if (!qemuIo.isAlive()) throw new AssertionError("qemu-io ended (" + qemuIo.exitValue() + "): " + Files.readString(log));
                    assertThat(System.nanoTime() - deadline).as("qemu-io opened the image and wrote its marker").isNegative();
                    Thread.onSpinWait();
                }
                assertThatThrownBy(f::acquireLock).isInstanceOf(ImageLockedException.class)
                        .hasMessage("cannot lock " + img + ": it is in use by another process");
                assertThat(f.locked()).isFalse();
                f.write(512, new byte[] {7}); // still usable, without the lock
                assertThat(f.readBytes(511, 2)).containsExactly(0x55, 7);
                assertThat(qemuIo.isAlive()).as("qemu-io still holds the image").isTrue();
            } finally {
                qemuIo.destroy();
                if (!qemuIo.waitFor(30, TimeUnit.SECONDS)) qemuIo.destroyForcibly();
            }
            assertThat(qemuIo.isAlive()).isFalse();
            f.acquireLock(); // the other process is gone, and its locks with it
            assertThat(f.locked()).isTrue();
            assertThat(freeForASecondOpener(img)).isFalse();
        }
    }
}
