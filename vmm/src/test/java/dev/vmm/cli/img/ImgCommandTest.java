package dev.vmm.cli.img;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code vmm img} run with the sandbox on (its default, in a child JVM); qemu-img is the reference for what the images contain. */
class ImgCommandTest {
    @TempDir Path tmp;

    record Run(int exit, String out, String err) {}

    /**
     * {@code vmm img ARGS} with its default {@code --sandbox on}: in a child JVM
     * ({@link dev.vmm.cli.sandbox.ImgHost}), since the filter would kill this JVM's next qemu-img.
     */
    static Run img(String... args) {
        dev.vmm.cli.sandbox.ImgHost.Run r = dev.vmm.cli.sandbox.ImgHost.img(args);
        return new Run(r.exit(), r.out(), r.err());
    }

    static String qemu(String... cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as(String.join(" ", cmd) + ": " + out).isZero();
            return out;
        } catch (IOException | InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    static int qemuExit(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        p.waitFor(60, TimeUnit.SECONDS);
        return p.exitValue();
    }

    @BeforeEach
    void tools() {
        boolean ok = Files.isExecutable(Path.of("/usr/bin/qemu-img")) && Files.isExecutable(Path.of("/usr/bin/qemu-io"));
        Assumptions.assumeTrue(ok, "qemu-img/qemu-io not installed (apt-get install qemu-utils): reference tests skipped");
    }

    @Test
    void createThenQemuAgreesOnInfo() throws Exception {
        Path f = tmp.resolve("a.qcow2");
        Run r = img("create", "-f", "qcow2", "-o", "cluster_size=4k,lazy_refcounts=on", f.toString(), "10M");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(qemuExit("qemu-img", "check", f.toString())).isZero();
        JsonNode q = new ObjectMapper().readTree(qemu("qemu-img", "info", "--output=json", f.toString()));
        Run info = img("info", "--json", f.toString());
        assertThat(info.exit()).as(info.err()).isZero();
        JsonNode ours = new ObjectMapper().readTree(info.out());
        for (String k : List.of("virtual-size", "cluster-size", "format", "dirty-flag")) assertThat(ours.get(k)).as(k).isEqualTo(q.get(k));
        assertThat(ours.at("/format-specific/data/lazy-refcounts").asBoolean()).isTrue();
        assertThat(ours.at("/format-specific/data/compat")).isEqualTo(q.at("/format-specific/data/compat"));
        assertThat(ours.at("/format-specific/data/refcount-bits")).isEqualTo(q.at("/format-specific/data/refcount-bits"));
        Run human = img("info", f.toString());
        assertThat(human.out()).contains("file format: qcow2", "virtual size: 10 MiB (10485760 bytes)", "cluster_size: 4096", "lazy refcounts: true");
    }

    @Test
    void createWithBackingTakesItsSize() throws Exception {
        Path base = tmp.resolve("base.raw"), top = tmp.resolve("top.qcow2");
        assertThat(img("create", "-f", "raw", base.toString(), "3M").exit()).isZero();
        Run r = img("create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", top.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        JsonNode q = new ObjectMapper().readTree(qemu("qemu-img", "info", "--output=json", top.toString()));
        assertThat(q.get("virtual-size").asLong()).isEqualTo(3 << 20);
        assertThat(q.get("backing-filename").asText()).isEqualTo("base.raw");
        assertThat(q.get("backing-filename-format").asText()).isEqualTo("raw");
    }

    @Test
    void convertBothWaysMatchesQemu() throws Exception {
        Path src = tmp.resolve("src.qcow2"), raw = tmp.resolve("out.raw"), back = tmp.resolve("back.qcow2"), ref = tmp.resolve("ref.raw");
        qemu("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=512", src.toString(), "5M");
        qemu("qemu-io", "-c", "write -P 0x31 0 100k", "-c", "write -P 0x32 2m 1m", "-c", "write -z 2100k 10k", src.toString());
        Run r = img("convert", "-O", "raw", src.toString(), raw.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        qemu("qemu-img", "convert", "-O", "raw", src.toString(), ref.toString());
        assertThat(Files.readAllBytes(raw)).isEqualTo(Files.readAllBytes(ref));
        // Zeroes stay sparse in the raw output.
        assertThat(Files.size(raw)).isEqualTo(5 << 20);
        r = img("convert", "-p", "-O", "qcow2", "-o", "cluster_size=64k", raw.toString(), back.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("100.0%");
        assertThat(qemuExit("qemu-img", "check", back.toString())).isZero();
        qemu("qemu-img", "compare", back.toString(), ref.toString());
    }

    @Test
    void checkExitCodesLikeQemu() throws Exception {
        Path f = tmp.resolve("c.qcow2");
        qemu("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", f.toString(), "1M");
        qemu("qemu-io", "-c", "write -P 1 0 64k", f.toString());
        Run ok = img("check", f.toString());
        assertThat(ok.exit()).as(ok.out() + ok.err()).isZero();
        assertThat(ok.out()).contains("No errors were found on the image.");

        // Leak: raise the refcount of a free cluster past the end by appending one cluster with refcount 1.
        long refblock = readLong(f, 48); // refcount table offset -> first entry is the first refcount block
        long block0 = readLong(f, refblock);
        long fileClusters = Files.size(f) / 4096;
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.setLength(Files.size(f) + 4096);
            raf.seek(block0 + fileClusters * 2);
            raf.writeShort(1);
        }
        assertThat(qemuExit("qemu-img", "check", f.toString())).isEqualTo(3);
        Run leak = img("check", f.toString());
        assertThat(leak.exit()).as(leak.out()).isEqualTo(3);
        assertThat(leak.out()).contains("1 leaked clusters were found on the image.");

        // Corruption: drop the refcount of the L1 table's cluster to zero.
        long l1 = readLong(f, 40);
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.seek(block0 + (l1 / 4096) * 2);
            raf.writeShort(0);
        }
        assertThat(qemuExit("qemu-img", "check", f.toString())).isEqualTo(2);
        Run bad = img("check", f.toString());
        assertThat(bad.exit()).as(bad.out()).isEqualTo(2);
        assertThat(bad.out()).contains("errors were found on the image");

        Path raw = tmp.resolve("r.raw");
        Files.write(raw, new byte[4096]);
        assertThat(img("check", raw.toString()).exit()).isEqualTo(63);
    }

    private static long readLong(Path f, long off) throws IOException {
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "r")) {
            raf.seek(off);
            return raf.readLong();
        }
    }

    /**
     * Every entry of the map, data, zero and hole alike, equals qemu-img's (run now, on the same
     * image): start, length, depth, present, zero, data and offset. An image with data clusters,
     * an allocated zero cluster (write -z), a discarded data cluster and unallocated holes.
     */
    @Test
    void mapMatchesQemuMapJson() throws Exception {
        Path f = tmp.resolve("m.qcow2");
        qemu("qemu-img", "create", "-q", "-f", "qcow2", f.toString(), "4M");
        qemu("qemu-io", "-c", "write -P 1 0 128k", "-c", "write -P 2 1m 64k", "-c", "write -z 2m 64k",
                "-c", "write -P 3 3m 128k", "-c", "discard 3m 64k", f.toString());
        Run r = img("map", "--output=json", f.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        JsonNode ours = new ObjectMapper().readTree(r.out());
        JsonNode q = new ObjectMapper().readTree(qemu("qemu-img", "map", "--output=json", f.toString()));
        assertThat(entries(ours, q)).isEqualTo(entries(q, q));
        assertThat(entries(q, q)).as("the image has zero and hole entries to compare")
                .anyMatch(e -> e.contains("zero=true") && e.contains("present=true"))
                .anyMatch(e -> e.contains("present=false"));
        Run human = img("map", f.toString());
        assertThat(human.out()).contains("Offset          Length          Mapped to       File").contains("0               0x20000");
    }

    /**
     * A map as one line per entry, with the fields qemu-img's entries carry (keys of every entry
     * of {@code reference}); a field missing in {@code map} shows as "absent".
     */
    private static List<String> entries(JsonNode map, JsonNode reference) {
        java.util.Set<String> keys = new java.util.LinkedHashSet<>();
        for (JsonNode n : reference) n.fieldNames().forEachRemaining(keys::add);
        List<String> out = new ArrayList<>();
        for (JsonNode n : map) {
            StringBuilder sb = new StringBuilder();
            for (String k : keys) sb.append(k).append('=').append(n.has(k) ? n.get(k).asText() : "absent").append(' ');
            out.add(sb.toString().strip());
        }
        return out;
    }

    @Test
    void errorsAreOneLineWithoutTrace() throws IOException {
        Run missing = img("info", tmp.resolve("nope.qcow2").toString());
        assertThat(missing.exit()).isEqualTo(1);
        assertThat(missing.err().strip().lines().count()).isEqualTo(1);
        assertThat(missing.err()).contains("No such file").doesNotContain("Exception").doesNotContain("\tat ");

        Path bad = tmp.resolve("bad.qcow2");
        byte[] h = new byte[512];
        h[0] = 'Q'; h[1] = 'F'; h[2] = 'I'; h[3] = (byte) 0xfb; h[7] = 3; h[23] = 40; // cluster_bits = 40
        Files.write(bad, h);
        Run r = img("info", bad.toString());
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err()).isEqualToIgnoringNewLines("vmm img: qcow2 cluster_bits 40 is out of range [9, 21]");

        Run usage = img("create", "-f", "qcow2", tmp.resolve("x").toString(), "lots");
        assertThat(usage.exit()).isEqualTo(1);
        assertThat(usage.err()).contains("invalid size 'lots'");
    }

    /** README: {@code -o compat=0.10|1.1} and {@code refcount_bits}: the same options given to qemu-img are the oracle. */
    @Test
    void createCompatAndRefcountBitsAsQemu() throws Exception {
        String[] optionSets = {"compat=0.10", "compat=1.1", "compat=1.1,refcount_bits=1", "compat=1.1,refcount_bits=8",
                "compat=1.1,refcount_bits=64", "compat=0.10,refcount_bits=8", "refcount_bits=3"};
        ObjectMapper json = new ObjectMapper();
        for (String o : optionSets) {
            Path ours = tmp.resolve("ours-" + o.replace(',', '_').replace('=', '-') + ".qcow2");
            Path theirs = tmp.resolve("qemu-" + o.replace(',', '_').replace('=', '-') + ".qcow2");
            Run r = img("create", "-f", "qcow2", "-o", o, ours.toString(), "8M");
            int q = qemuExit("qemu-img", "create", "-f", "qcow2", "-o", o, theirs.toString(), "8M");
            assertThat(r.exit() == 0).as("-o %s: vmm %d (%s), qemu-img %d", o, r.exit(), r.err().strip(), q).isEqualTo(q == 0);
            if (q != 0) {
                assertThat(r.err().strip().lines()).as("one line for -o %s", o).hasSize(1);
                continue;
            }
            assertThat(qemuExit("qemu-img", "check", ours.toString())).as("qemu-img check of ours, -o %s", o).isZero();
            JsonNode mine = json.readTree(qemu("qemu-img", "info", "--output=json", ours.toString()));
            JsonNode ref = json.readTree(qemu("qemu-img", "info", "--output=json", theirs.toString()));
            for (String k : List.of("/format-specific/data/compat", "/format-specific/data/refcount-bits",
                    "/format-specific/data/lazy-refcounts", "/cluster-size", "/virtual-size")) {
                assertThat(mine.at(k)).as("-o %s: %s", o, k).isEqualTo(ref.at(k));
            }
        }
    }

    /** README: {@code convert -f vpc} of fixed (and dynamic) images reads what qemu-img reads. */
    @Test
    void convertVpcFixedAndDynamicAsQemu() throws Exception {
        for (String sub : List.of("fixed", "dynamic")) {
            Path vhd = tmp.resolve(sub + ".vhd");
            qemu("qemu-img", "create", "-f", "vpc", "-o", "subformat=" + sub, vhd.toString(), "16M");
            qemu("qemu-io", "-f", "vpc", "-c", "write -P 0x5a 1M 64k", "-c", "write -P 0xa5 9M 4k", vhd.toString());
            Path ours = tmp.resolve(sub + "-ours.raw"), ref = tmp.resolve(sub + "-qemu.raw");
            Run r = img("convert", "-f", "vpc", "-O", "raw", vhd.toString(), ours.toString());
            assertThat(r.exit()).as("%s: %s", sub, r.err()).isZero();
            qemu("qemu-img", "convert", "-f", "vpc", "-O", "raw", vhd.toString(), ref.toString());
            assertThat(Files.size(ours)).as(sub).isEqualTo(Files.size(ref));
            assertThat(java.util.Arrays.mismatch(Files.readAllBytes(ours), Files.readAllBytes(ref))).as(sub).isEqualTo(-1);
        }
    }
}
