package dev.vmm.block;

import dev.vmm.block.qcow2.Qcow2Header;
import dev.vmm.block.qcow2.Qcow2Image;
import dev.vmm.block.raw.RawImage;
import dev.vmm.block.vhdx.VhdxImage;
import dev.vmm.block.vpc.VpcImage;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Opens disk images: probes the format by magic (never by file name) unless one is given, and opens
 * backing chains read-only, refusing loops and chains deeper than {@link #MAX_CHAIN_DEPTH}.
 */
public final class Images {
    public static final int MAX_CHAIN_DEPTH = 64;

    /**
     * @param readOnly open the top image read-only (backing files always are)
     * @param format   the top image's format, or null to probe
     * @param lock     take the OFD lock (false only for inspecting an image in use, like qemu-img -U)
     * @param backing  open the backing chain (false: unallocated ranges read as zeroes; for info)
     */
    public record Options(boolean readOnly, ImageFormat format, boolean lock, boolean backing) {
        public static Options readOnlyDefaults() { return new Options(true, null, true, true); }

        public static Options readWriteDefaults() { return new Options(false, null, true, true); }

        public Options withFormat(ImageFormat f) { return new Options(readOnly, f, lock, backing); }

        public Options withLock(boolean l) { return new Options(readOnly, format, l, backing); }

        public Options withBacking(boolean b) { return new Options(readOnly, format, lock, b); }
    }

    private Images() {}

    public static BlockDevice open(Path path, Options options) {
        if (dev.vmm.block.nbd.NbdUri.isNbd(path)) {
            // A disk on an NBD server: the bytes arrive as they are (the export is the raw disk).
            if (options.format() != null && options.format() != ImageFormat.RAW) {
                throw new BlockException("NBD disks are raw (the server interprets the image format); " + options.format().qemuName() + " given");
            }
            return dev.vmm.block.nbd.NbdBlockDevice.open(dev.vmm.block.nbd.NbdUri.fromPath(path), options.readOnly());
        }
        return open(path, options.format(), options.readOnly(), options.lock(), options.backing(), new ArrayList<>());
    }

    /** Probes the format of a file without opening it as a disk. */
    public static ImageFormat probe(Path path) {
        if (dev.vmm.block.nbd.NbdUri.isNbd(path)) return ImageFormat.RAW;
        try (ImageFile f = ImageFile.open(path, true, false)) {
            return ImageFormat.probe(f);
        }
    }

    private static BlockDevice open(Path path, ImageFormat format, boolean readOnly, boolean lock, boolean withBacking, List<Path> chain) {
        Path real = realPath(path);
        if (chain.contains(real)) throw new ImageFormatException("backing chain loops: " + path + " is already in the chain");
        if (chain.size() >= MAX_CHAIN_DEPTH) throw new ImageFormatException("backing chain is deeper than " + MAX_CHAIN_DEPTH + " images");
        chain.add(real);
        ImageFile file = ImageFile.open(path, readOnly, lock);
        try {
            ImageFormat f = format != null ? format : ImageFormat.probe(file);
            return switch (f) {
                case RAW -> new RawImage(file);
                case VPC -> {
                    if (!readOnly) throw new ImageFormatException("vpc images are supported read-only");
                    yield VpcImage.open(file);
                }
                case VHDX -> {
                    if (!readOnly) throw new ImageFormatException("vhdx images are supported read-only");
                    yield VhdxImage.open(file);
                }
                case QCOW2 -> {
                    Qcow2Header h = Qcow2Image.readHeader(file);
                    BlockDevice backing = null;
                    if (h.backingFile != null && withBacking) {
                        Path bp = resolveBacking(path, h.backingFile);
                        ImageFormat bf = h.backingFormat != null ? ImageFormat.byName(h.backingFormat) : null;
                        try {
                            backing = open(bp, bf, true, lock, true, chain);
                        } catch (ImageFormatException e) {
                            throw e;
                        } catch (BlockException e) {
                            throw new BlockException("cannot open backing file of " + path + ": " + e.getMessage());
                        }
                    }
                    try {
                        yield Qcow2Image.open(file, h, backing, readOnly);
                    } catch (RuntimeException e) {
                        if (backing != null) backing.close();
                        throw e;
                    }
                }
            };
        } catch (RuntimeException e) {
            file.close();
            throw e;
        }
    }

    /**
     * The backing files of {@code top} (not {@code top} itself), nearest first, read from the headers
     * only (no lock, no data); stops quietly at the first file that cannot be read or at the depth limit.
     */
    public static List<Path> backingChain(Path top, ImageFormat format) {
        List<Path> chain = new ArrayList<>();
        Path cur = top;
        ImageFormat f = format;
        while (chain.size() < MAX_CHAIN_DEPTH) {
            String name, fmt;
            try (ImageFile file = ImageFile.open(cur, true, false)) {
                if ((f != null ? f : ImageFormat.probe(file)) != ImageFormat.QCOW2) break;
                Qcow2Header h = Qcow2Image.readHeader(file);
                name = h.backingFile;
                fmt = h.backingFormat;
            } catch (BlockException e) {
                break;
            }
            if (name == null) break;
            cur = resolveBacking(cur, name);
            if (chain.contains(cur)) break;
            chain.add(cur);
            try {
                f = fmt != null ? ImageFormat.byName(fmt) : null;
            } catch (BlockException e) {
                break;
            }
        }
        return chain;
    }

    /** A relative backing name is relative to the directory of the image that names it. */
    public static Path resolveBacking(Path image, String backing) {
        Path b = Path.of(backing);
        if (b.isAbsolute()) return b;
        Path dir = image.toAbsolutePath().getParent();
        return dir == null ? b : dir.resolve(b);
    }

    private static Path realPath(Path p) {
        try {
            return p.toRealPath();
        } catch (IOException e) {
            // missing file, symlink loop, no permission...: opening it reports the real errno (ENOENT, ELOOP...)
            ImageFile.open(p, true, false).close();
            return p.toAbsolutePath().normalize();
        }
    }
}
