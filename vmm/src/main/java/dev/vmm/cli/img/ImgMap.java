package dev.vmm.cli.img;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vmm.block.BlockDevice;
import dev.vmm.block.Extent;
import dev.vmm.block.Images;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "map", mixinStandardHelpOptions = true, description = "Show which ranges of the disk are allocated, and where (through the backing chain).")
final class ImgMap implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Option(names = "--output", defaultValue = "human", paramLabel = "human|json", description = "output format (default: ${DEFAULT-VALUE})") String output;
    @Mixin ImageArgument image;

    @Override
    public Integer call() {
        return ImgSupport.guarded(spec.commandLine(), () -> {
            if (!output.equals("human") && !output.equals("json")) throw new IllegalArgumentException("--output must be human or json");
            PrintWriter out = spec.commandLine().getOut();
            boolean json = output.equals("json");
            ObjectMapper mapper = new ObjectMapper();
            try (BlockDevice d = Images.open(image.file, image.readOnly())) {
                image.confine(); // --chroot, --run-as, --sandbox: the image is open
                if (json) out.println("[");
                else out.printf("%-16s%-16s%-16s%s%n", "Offset", "Length", "Mapped to", "File");
                Extent cur = null;
                boolean first = true;
                for (long off = 0; off < d.size(); ) {
                    Extent e = d.status(off, d.size() - off);
                    off += e.length();
                    if (cur != null && cur.mergeableWith(e)) { cur = cur.mergedWith(e); continue; }
                    if (cur != null) { first = print(out, mapper, cur, json, first); }
                    cur = e;
                }
                if (cur != null) print(out, mapper, cur, json, first);
                if (json) out.println("]");
            }
            out.flush();
            return 0;
        });
    }

    /** One entry of {@code --output=json}, with qemu-img map's fields in its order ({@code offset} only when mapped). */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record JsonExtent(long start, long length, int depth, boolean present, boolean zero, boolean data, Long offset) {}

    private static boolean print(PrintWriter out, ObjectMapper mapper, Extent e, boolean json, boolean first) throws Exception {
        if (json) {
            JsonExtent j = new JsonExtent(e.offset(), e.length(), e.depth(), e.present(), e.zero(), e.data(),
                    e.hostOffset() >= 0 ? e.hostOffset() : null);
            out.println((first ? "" : ",") + mapper.writeValueAsString(j));
            return false;
        }
        if (e.data() && e.hostOffset() < 0) {
            // compressed data has no file offset to show: an error like qemu-img's, not a silently short table
            throw new dev.vmm.block.BlockException("the image contains compressed clusters, which have no file offset; use --output=json");
        }
        if (e.data()) {
            out.printf("%-16s%-16s%-16s%s%n", hex(e.offset()), hex(e.length()), hex(e.hostOffset()), e.file());
        }
        return false;
    }

    private static String hex(long v) {
        return v == 0 ? "0" : "0x" + Long.toHexString(v);
    }
}
