package dev.vmm.devices;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.BlockException;
import dev.vmm.block.ImageFile;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import dev.vmm.block.nbd.NbdUri;
import dev.vmm.config.ConfigException;

import java.nio.file.Files;
import java.nio.file.Path;

/** Finding out what a disk image is, once, before anything opens it for the guest. */
final class DiskImages {
    private DiskImages() {}

    /** The format given, or the one the image's content says; a missing file or unknown content is the user's error. */
    static ImageFormat format(Path path, String given, String option) {
        if (NbdUri.isNbd(path)) return given != null ? ImageFormat.byName(given) : ImageFormat.RAW; // what the server exports
        if (!Files.exists(path)) throw new ConfigException(option + " " + path + ": no such file");
        if (given != null) return ImageFormat.byName(given);
        try (ImageFile f = ImageFile.open(path, true, false)) {
            return ImageFormat.probe(f);
        } catch (RuntimeException e) {
            throw new ConfigException(option + " " + path + ": " + e.getMessage());
        }
    }

    /**
     * Opens an image of a known format through the block layer (metadata checked, locked unless
     * {@code lock} is off); a corrupt or locked image is the user's error, named by option and file.
     */
    static BlockDevice open(Path path, ImageFormat format, boolean readOnly, boolean lock, String option) {
        try {
            return Images.open(path, (readOnly ? Images.Options.readOnlyDefaults() : Images.Options.readWriteDefaults())
                    .withFormat(format).withLock(lock));
        } catch (BlockException e) {
            throw new ConfigException(option + " " + path + ": " + e.getMessage());
        }
    }
}
