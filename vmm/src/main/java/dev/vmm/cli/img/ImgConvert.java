package dev.vmm.cli.img;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.Extent;
import dev.vmm.block.ImageFile;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import dev.vmm.block.qcow2.Qcow2Creator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "convert", mixinStandardHelpOptions = true,
        description = "Copy an image (any readable format, with its backing chain) to a new raw or qcow2 image; zeroes stay sparse.")
final class ImgConvert implements Callable<Integer> {
    private static final int CHUNK = 2 << 20;

    @Spec CommandSpec spec;
    @Option(names = {"-f", "--format"}, description = "source format (default: probed)") String format;
    @Option(names = "-O", required = true, paramLabel = "raw|qcow2", description = "output format") String outFormat;
    @Option(names = "-o", paramLabel = "OPTIONS", description = "qcow2 creation options (see create)") String options;
    @Option(names = "-p", description = "show progress (default: when stdout is a terminal)") boolean progress;
    @Option(names = {"-q", "--quiet"}, description = "no progress bar") boolean quiet;
    @Option(names = {"-U", "--force-share"}, description = "do not lock the source") boolean forceShare;
    @Parameters(index = "0", paramLabel = "SRC") Path src;
    @Parameters(index = "1", paramLabel = "DST") Path dst;
    @picocli.CommandLine.Mixin dev.vmm.cli.sandbox.SandboxOption sandbox = dev.vmm.cli.sandbox.SandboxOption.defaultOn();
    @picocli.CommandLine.Mixin dev.vmm.cli.sandbox.PrivilegeOption privileges = new dev.vmm.cli.sandbox.PrivilegeOption();

    @Override
    public Integer call() {
        return ImgSupport.guarded(spec.commandLine(), () -> {
            ImageFormat of = ImageFormat.byName(outFormat);
            if (of != ImageFormat.RAW && of != ImageFormat.QCOW2) throw new IllegalArgumentException("output format must be raw or qcow2");
            privileges.resolve(); // an unknown --run-as user: refused before the destination is created
            if (Files.exists(dst) && Files.isSameFile(src, dst)) throw new IllegalArgumentException("source and destination are the same file");
            if (Files.exists(dst)) {
                for (Path b : Images.backingChain(src, ImgSupport.format(format))) {
                    if (Files.exists(b) && Files.isSameFile(b, dst)) {
                        throw new IllegalArgumentException("destination " + dst + " is a backing file of " + src + ": it would be overwritten while it is read");
                    }
                }
            }
            Images.Options so = Images.Options.readOnlyDefaults().withFormat(ImgSupport.format(format)).withLock(!forceShare);
            try (BlockDevice in = Images.open(src, so)) {
                long size = in.size();
                boolean remote = dev.vmm.block.nbd.NbdUri.isNbd(dst);
                if (remote) {
                    // An NBD export exists already and is not empty: it must be raw and large enough,
                    // and zero ranges of the source are written as zeroes.
                    if (of != ImageFormat.RAW) throw new IllegalArgumentException("an NBD destination takes -O raw (the server holds the image format)");
                    if (options != null) throw new IllegalArgumentException("an NBD destination takes no -o options");
                } else if (of == ImageFormat.QCOW2) {
                    Qcow2Creator.create(dst, size, ImgCreate.parseQcow2Options(options));
                } else {
                    if (options != null) throw new IllegalArgumentException("raw output takes no -o options");
                    try (ImageFile f = ImageFile.create(dst)) { f.truncate(size); }
                }
                boolean show = !quiet && (progress || System.console() != null);
                try (BlockDevice out = Images.open(dst, Images.Options.readWriteDefaults().withFormat(of));
                     Arena arena = Arena.ofConfined()) {
                    if (remote && out.size() < size) {
                        throw new IllegalArgumentException("NBD destination is " + out.size() + " bytes, smaller than the source (" + size + ")");
                    }
                    // Source (with its backing chain) and destination are open: --chroot, --run-as,
                    // --sandbox; the copy reads and writes only through the open descriptors.
                    privileges.drop();
                    sandbox.enter();
                    copy(in, out, arena.allocate(CHUNK, 4096), show ? spec.commandLine().getOut() : null, !remote);
                    out.flush();
                }
            }
            return 0;
        });
    }

    /** Copies allocated, non-zero data only: the destination is new, so it already reads as zeroes. */
    static void copy(BlockDevice in, BlockDevice out, MemorySegment buf, PrintWriter progress) {
        copy(in, out, buf, progress, true);
    }

    /** {@code fresh}: the destination reads as zeroes already; otherwise zero ranges are zeroed in it. */
    static void copy(BlockDevice in, BlockDevice out, MemorySegment buf, PrintWriter progress, boolean fresh) {
        long size = in.size();
        ProgressBar bar = progress == null ? null : new ProgressBar(progress, size);
        for (long off = 0; off < size; ) {
            Extent e = in.status(off, Math.min(CHUNK, size - off));
            long n = e.length();
            if (!e.zero()) {
                MemorySegment part = buf.asSlice(0, n);
                in.read(off, part);
                if (!allZero(part)) out.write(off, part);
                else if (!fresh) out.writeZeroes(off, n, true);
            } else if (!fresh) {
                out.writeZeroes(off, n, true);
            }
            off += n;
            if (bar != null) bar.update(off);
        }
        if (bar != null) bar.done();
    }

    static boolean allZero(MemorySegment s) {
        long n = s.byteSize(), i = 0;
        for (; i + 8 <= n; i += 8) if (s.get(ValueLayout.JAVA_LONG_UNALIGNED, i) != 0) return false;
        for (; i < n; i++) if (s.get(ValueLayout.JAVA_BYTE, i) != 0) return false;
        return true;
    }

    /** "    (42.00/100%)" redrawn in place, like qemu-img -p. */
    static final class ProgressBar {
        private final PrintWriter out;
        private final long total;
        private int lastPermille = -1;

        ProgressBar(PrintWriter out, long total) {
            this.out = out;
            this.total = Math.max(1, total);
            update(0);
        }

        void update(long done) {
            int permille = (int) (done * 1000 / total);
            if (permille == lastPermille) return;
            lastPermille = permille;
            int width = 40, filled = permille * width / 1000;
            out.print("\r    [" + "#".repeat(filled) + " ".repeat(width - filled) + "] " + String.format(java.util.Locale.ROOT, "%5.1f%%", permille / 10.0));
            out.flush();
        }

        void done() {
            update(total);
            out.println();
            out.flush();
        }
    }
}
