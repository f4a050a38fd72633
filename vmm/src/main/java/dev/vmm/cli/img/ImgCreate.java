package dev.vmm.cli.img;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.ImageFile;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import dev.vmm.block.qcow2.Qcow2Creator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "create", mixinStandardHelpOptions = true, description = "Create an empty raw or qcow2 image.")
final class ImgCreate implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Option(names = {"-f", "--format"}, defaultValue = "raw", description = "raw or qcow2 (default: ${DEFAULT-VALUE})") String format;
    @Option(names = {"-b", "--backing"}, paramLabel = "BACKING", description = "backing file (qcow2 only)") String backing;
    @Option(names = {"-F", "--backing-format"}, paramLabel = "FMT", description = "backing file format (default: probed)") String backingFormat;
    @Option(names = "-o", paramLabel = "OPTIONS", description = "cluster_size=, lazy_refcounts=on|off, compat=0.10|1.1, refcount_bits=") String options;
    @Option(names = {"-q", "--quiet"}, description = "print nothing on success") boolean quiet;
    @Parameters(index = "0", paramLabel = "FILE") Path file;
    @Parameters(index = "1", arity = "0..1", paramLabel = "SIZE", description = "virtual size (k, M, G, T suffixes); default: the backing file's") String size;

    @Override
    public Integer call() {
        return ImgSupport.guarded(spec.commandLine(), () -> {
            ImageFormat f = ImageFormat.byName(format);
            long bytes;
            if (size != null) {
                bytes = ImgSupport.parseSize(size);
            } else if (backing != null) {
                try (BlockDevice b = Images.open(Images.resolveBacking(file, backing),
                        Images.Options.readOnlyDefaults().withFormat(ImgSupport.format(backingFormat)))) {
                    bytes = b.size();
                }
            } else {
                throw new IllegalArgumentException("an image size is required (or a backing file to take it from)");
            }
            switch (f) {
                case RAW -> {
                    if (backing != null) throw new IllegalArgumentException("raw images cannot have a backing file");
                    if (options != null) throw new IllegalArgumentException("raw images take no -o options");
                    try (ImageFile out = ImageFile.create(file)) {
                        out.truncate(bytes);
                    }
                }
                case QCOW2 -> {
                    Qcow2Creator.Options o = parseQcow2Options(options);
                    if (backing != null) {
                        String bf = backingFormat;
                        if (bf == null) bf = Images.probe(Images.resolveBacking(file, backing)).qemuName();
                        o = o.withBacking(backing, bf);
                    }
                    Qcow2Creator.create(file, bytes, o);
                }
                default -> throw new IllegalArgumentException("cannot create " + f.qemuName() + " images (only raw and qcow2)");
            }
            if (!quiet) {
                spec.commandLine().getOut().println("Formatting '" + file + "', fmt=" + f.qemuName() + " size=" + bytes
                        + (backing != null ? " backing_file=" + backing : ""));
                spec.commandLine().getOut().flush();
            }
            return 0;
        });
    }

    static Qcow2Creator.Options parseQcow2Options(String options) {
        Qcow2Creator.Options d = Qcow2Creator.Options.defaults();
        int version = d.version(), refcountBits = d.refcountBits();
        long clusterSize = d.clusterSize();
        boolean lazy = d.lazyRefcounts();
        if (options != null && !options.isBlank()) {
            for (String kv : options.split(",")) {
                int eq = kv.indexOf('=');
                if (eq < 0) throw new IllegalArgumentException("invalid option '" + kv + "' (expected key=value)");
                String k = kv.substring(0, eq).trim(), v = kv.substring(eq + 1).trim().toLowerCase(Locale.ROOT);
                switch (k) {
                    case "cluster_size" -> clusterSize = ImgSupport.parseSize(v);
                    case "lazy_refcounts" -> lazy = switch (v) {
                        case "on", "true", "yes" -> true;
                        case "off", "false", "no" -> false;
                        default -> throw new IllegalArgumentException("lazy_refcounts must be on or off, not '" + v + "'");
                    };
                    case "compat" -> version = switch (v) {
                        case "0.10", "v2" -> 2;
                        case "1.1", "v3" -> 3;
                        default -> throw new IllegalArgumentException("compat must be 0.10 or 1.1, not '" + v + "'");
                    };
                    case "refcount_bits" -> refcountBits = Integer.parseInt(v);
                    default -> throw new IllegalArgumentException("unknown qcow2 option '" + k + "' (supported: cluster_size, lazy_refcounts, compat, refcount_bits)");
                }
            }
        }
        return new Qcow2Creator.Options(version, clusterSize, lazy, refcountBits, null, null);
    }
}
