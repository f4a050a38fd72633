package dev.vmm.cli.img;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.vmm.block.BlockDevice;
import dev.vmm.block.ImageFile;
import dev.vmm.block.ImageInfo;
import dev.vmm.block.Images;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "info", mixinStandardHelpOptions = true, description = "Show an image's format, sizes, backing file and snapshots.")
final class ImgInfo implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Option(names = "--json", description = "JSON output with qemu-img's field names") boolean json;
    @Option(names = "--output", paramLabel = "human|json", description = "output format (like qemu-img)") String output;
    @Mixin ImageArgument image;

    @Override
    public Integer call() {
        return ImgSupport.guarded(spec.commandLine(), () -> {
            Images.Options o = image.readOnly().withBacking(false);
            Map<String, Object> j;
            try (BlockDevice d = Images.open(image.file, o)) {
                image.confine(); // --chroot, --run-as, --sandbox: the image is open
                j = describe(image.file, d.info());
                if (d instanceof dev.vmm.block.nbd.NbdBlockDevice n) j.put("filename", n.uri().toString());
            }
            PrintWriter out = spec.commandLine().getOut();
            if (json || "json".equals(output)) {
                out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(j));
            } else {
                printHuman(out, d(j));
            }
            out.flush();
            return 0;
        });
    }

    /** One entry of {@code snapshots}, with qemu-img info's field names and order. */
    record JsonSnapshot(String id, String name, @JsonProperty("vm-state-size") long vmStateSize,
                        @JsonProperty("date-sec") long dateSec, @JsonProperty("date-nsec") long dateNsec,
                        @JsonProperty("vm-clock-sec") long vmClockSec, @JsonProperty("vm-clock-nsec") long vmClockNsec) {
        static JsonSnapshot of(ImageInfo.Snapshot s) {
            return new JsonSnapshot(s.id(), s.name(), s.vmStateSize(), s.dateSeconds(), s.dateNanos(),
                    s.vmClockNanos() / 1_000_000_000L, s.vmClockNanos() % 1_000_000_000L);
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> d(Map<String, Object> m) { return m; }

    static Map<String, Object> describe(Path file, ImageInfo info) {
        Map<String, Object> j = new LinkedHashMap<>();
        j.put("virtual-size", info.virtualSize());
        j.put("filename", file.toString());
        if (info.clusterSize() > 0) j.put("cluster-size", info.clusterSize());
        j.put("format", info.format());
        if (!dev.vmm.block.nbd.NbdUri.isNbd(file)) { // an NBD disk has no local file to measure
            try (ImageFile f = ImageFile.open(file, true, false)) {
                j.put("actual-size", f.allocatedBytes());
            }
        }
        if (info.format().equals("qcow2")) j.put("dirty-flag", info.dirty());
        if (info.backingFile() != null) {
            j.put("backing-filename", info.backingFile());
            j.put("full-backing-filename", Images.resolveBacking(file, info.backingFile()).toString());
            if (info.backingFormat() != null) j.put("backing-filename-format", info.backingFormat());
        }
        if (!info.snapshots().isEmpty()) {
            List<JsonSnapshot> snaps = new ArrayList<>();
            for (ImageInfo.Snapshot s : info.snapshots()) snaps.add(JsonSnapshot.of(s));
            j.put("snapshots", snaps);
        }
        if (!info.formatSpecific().isEmpty()) {
            Map<String, Object> fs = new LinkedHashMap<>();
            fs.put("type", info.format());
            fs.put("data", info.formatSpecific());
            j.put("format-specific", fs);
        }
        return j;
    }

    @SuppressWarnings("unchecked")
    private static void printHuman(PrintWriter out, Map<String, Object> j) {
        out.println("image: " + j.get("filename"));
        out.println("file format: " + j.get("format"));
        long vs = (long) j.get("virtual-size");
        out.println("virtual size: " + ImgSupport.humanSize(vs) + " (" + vs + " bytes)");
        out.println("disk size: " + (j.containsKey("actual-size") ? ImgSupport.humanSize((long) j.get("actual-size")) : "unavailable"));
        if (j.containsKey("cluster-size")) out.println("cluster_size: " + j.get("cluster-size"));
        if (j.containsKey("backing-filename")) {
            out.println("backing file: " + j.get("backing-filename"));
            if (j.containsKey("backing-filename-format")) out.println("backing file format: " + j.get("backing-filename-format"));
        }
        if (Boolean.TRUE.equals(j.get("dirty-flag"))) out.println("dirty flag: true");
        if (j.containsKey("snapshots")) {
            out.println("Snapshot list:");
            out.printf(Locale.ROOT, "%-10s%-17s%8s%20s%13s%n", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK");
            DateTimeFormatter df = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss").withZone(ZoneId.systemDefault());
            for (JsonSnapshot s : (List<JsonSnapshot>) j.get("snapshots")) {
                long clock = s.vmClockSec();
                out.printf(Locale.ROOT, "%-10s%-17s%8s%20s %02d:%02d:%02d.%03d%n", s.id(), s.name(),
                        ImgSupport.humanSize(s.vmStateSize()), df.format(Instant.ofEpochSecond(s.dateSec())),
                        clock / 3600, clock / 60 % 60, clock % 60, s.vmClockNsec() / 1_000_000);
            }
        }
        if (j.containsKey("format-specific")) {
            out.println("Format specific information:");
            Map<String, Object> data = (Map<String, Object>) ((Map<String, Object>) j.get("format-specific")).get("data");
            for (Map.Entry<String, Object> e : data.entrySet()) out.println("    " + e.getKey().replace('-', ' ') + ": " + e.getValue());
        }
    }
}
