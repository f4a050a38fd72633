package dev.vmm.devices;

import dev.vmm.block.BlockException;
import dev.vmm.block.ImageFile;
import dev.vmm.config.ConfigException;
import dev.vmm.config.UsbDeviceSpec;
import dev.vmm.usb.UsbDevice;
import dev.vmm.usb.UsbDeviceSink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * usb-storage's image lock in a live migration on shared storage, with two in-process machines'
 * device registries (source and {@code --incoming} destination) over one raw image, driven
 * through the registry calls the migration makes ({@code handOver} → {@code releaseDiskLocks},
 * GO or 'cont' → {@code startAfterStateChange}); a third opener (another VMM, qemu-img) is the
 * witness of who holds the lock. The lock is wired as the xHCI attach code wires it.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class UsbStorageLockHandOverTest {
    @TempDir
    Path dir;

    private static final class Hub implements UsbDeviceSink {
        public int plug(UsbDevice d) { return 1; }
        public CompletableFuture<Void> unplug(UsbDevice d) { return CompletableFuture.completedFuture(null); }
    }

    /** A machine's registry with a root hub connected and usb-storage's locks registered (as XhciAttach does). */
    private static DeviceRegistry machine() {
        DeviceRegistry r = new DeviceRegistry(null, List.of());
        r.usb().connect(new Hub());
        r.addDiskLocks(r.usb().diskLocks());
        return r;
    }

    private static void attach(DeviceRegistry r, Path img, boolean incoming) {
        UsbDeviceAttach a = UsbDeviceAttach.open(UsbDeviceSpec.Storage.parse("path=" + img), new OpenContext(1, incoming));
        a.attach(new AttachContext(null, null, r, null, List.of(), 1, null, null));
    }

    /** Whether another process could open the image read-write now (the lock is free). */
    private static boolean freeForAThirdOpener(Path img) {
        try (ImageFile f = ImageFile.open(img, false, true)) {
            return true;
        } catch (BlockException e) {
            assertThat(e.getMessage()).contains("in use by another process");
            return false;
        }
    }

    private Path image() throws Exception {
        Path img = dir.resolve("stick.img");
        Files.write(img, new byte[1 << 20]);
        return img;
    }

    @Test
    void theDestinationOpensWithoutTheLockAndTakesItWhenTheSourceHandsItOver() throws Exception {
        Path img = image();
        DeviceRegistry source = machine();
        attach(source, img, false);
        assertThat(freeForAThirdOpener(img)).as("the source holds the lock").isFalse();

        DeviceRegistry destination = machine();
        destination.deferDiskLocks();
        attach(destination, img, true); // opens although the source holds the lock
        assertThat(freeForAThirdOpener(img)).isFalse();

        source.releaseDiskLocks(); // MachineMigration.handOver, after READY
        assertThat(freeForAThirdOpener(img)).as("between hand-over and GO nobody holds it").isTrue();
        destination.startAfterStateChange(); // GO: the destination starts
        assertThat(freeForAThirdOpener(img)).as("the destination holds it").isFalse();
        assertThatThrownBy(() -> UsbDeviceAttach.open(UsbDeviceSpec.Storage.parse("path=" + img), new OpenContext(1, false)))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("--usb-storage " + img);

        source.close(); // the source quits: the destination keeps the lock
        assertThat(freeForAThirdOpener(img)).isFalse();
        destination.close();
        assertThat(freeForAThirdOpener(img)).isTrue();
    }

    @Test
    void aSourceThatResumesAfterACancelledSwitchOverTakesItsLockBack() throws Exception {
        Path img = image();
        DeviceRegistry source = machine();
        attach(source, img, false);
        // A hot-plugged (device_add) storage device is handed over too.
        Path second = dir.resolve("second.img");
        Files.write(second, new byte[1 << 20]);
        UsbStorageImage hot = UsbBus.openImage(second, null, false, false, "usb-storage");
        source.usb().plug("hot0", source.usb().storage(hot.image(), "VMM0000000000HOT"), hot);
        assertThat(freeForAThirdOpener(second)).isFalse();

        source.releaseDiskLocks();
        assertThat(freeForAThirdOpener(img)).isTrue();
        assertThat(freeForAThirdOpener(second)).isTrue();
        source.startAfterStateChange(); // 'cont': the migration failed after the hand-over
        assertThat(freeForAThirdOpener(img)).as("taken back").isFalse();
        assertThat(freeForAThirdOpener(second)).isFalse();
        source.startAfterStateChange(); // a second start does not take it twice
        source.close();
        assertThat(freeForAThirdOpener(img)).isTrue();
        assertThat(freeForAThirdOpener(second)).isTrue();
    }

    @Test
    void anIncomingMigrationRefusesImagesWithMetadataCaches() throws Exception {
        Path qcow2 = dir.resolve("stick.qcow2");
        Process p;
        try {
            p = new ProcessBuilder("qemu-img", "create", "-q", "-f", "qcow2", qcow2.toString(), "1M").redirectErrorStream(true).start();
        } catch (java.io.IOException e) {
            assumeTrue(false, "qemu-img is not installed: " + e.getMessage());
            return;
        }
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isZero();
        assertThatThrownBy(() -> UsbDeviceAttach.open(UsbDeviceSpec.Storage.parse("path=" + qcow2), new OpenContext(1, true)))
                .isInstanceOf(ConfigException.class)
                .hasMessage("--usb-storage " + qcow2 + ": an incoming migration takes raw disk images only (qcow2 given)");
        // Outside a migration a qcow2 image opens, locked by the block layer as before.
        UsbDeviceAttach a = UsbDeviceAttach.open(UsbDeviceSpec.Storage.parse("path=" + qcow2), new OpenContext(1, false));
        try {
            assertThatThrownBy(() -> ImageFile.open(qcow2, false, true).close()).isInstanceOf(BlockException.class);
        } finally {
            a.close();
        }
    }
}
