package dev.vmm.block.qcow2;

import dev.vmm.block.QemuTools;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.vmm.block.QemuTools.run;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link Qcow2Creator} against {@code qemu-img create}, run at test time with the same options, at
 * the edges of its layout arithmetic: size 0 and one byte, one L2 table's coverage and one byte
 * more, 512-byte and 2 MiB clusters, refcount widths 1..64 bits, metadata that needs a second
 * refcount block or a second refcount table cluster, compat 0.10, lazy refcounts, a backing file.
 *
 * <p>Asserted: the header fields both write agree (version, cluster bits, size, L1 size, refcount
 * order and table size, features, header length, backing name), the same header extensions in the
 * same order with the same lengths, the same {@code qemu-img info}; {@code qemu-img check} finds our
 * image clean without leaks and its image end no further than QEMU's (QEMU's layout is not always
 * the minimal one: with a large L1 table it moves its refcount table, so offsets are not compared);
 * and after a write at each end of the disk through qemu-io, our image is still clean and reads back.
 */
@Timeout(120)
class Qcow2CreatorQemuOracleTest {
    private static final Pattern END = Pattern.compile("Image end offset: (\\d+)");
    @TempDir Path tmp;

    @ParameterizedTest(name = "compat {0}, {1}-byte clusters, {2}-bit refcounts, lazy {3}, size {4}, backing {5}")
    @CsvSource({
            "3, 65536,  16, false, 0,",
            "3, 65536,  16, false, 1,",
            "3, 512,    8,  false, 1,",
            "3, 512,    16, false, 32768,",
            "3, 512,    16, false, 33280,",
            "3, 512,    64, false, 134217728,",
            "3, 512,    64, false, 8589934592,",
            "3, 512,    1,  false, 68719476736,",
            "3, 512,    4,  false, 16777216,",
            "3, 4096,   2,  false, 1073741824,",
            "3, 2097152, 16, false, 1099511627776,",
            "3, 65536,  32, true,  1073742336,",
            "2, 4096,   16, false, 10485760,",
            "2, 65536,  16, false, 1048576, base.raw",
            "3, 65536,  16, false, 1048576, base.raw",
            "3, 512,    16, false, 1048576, base.raw",
    })
    void createsWhatQemuImgCreates(int version, long clusterSize, int refcountBits, boolean lazy, long size, String backing) throws IOException {
        QemuTools.assumeAvailable();
        Path ours = tmp.resolve("ours.qcow2"), theirs = tmp.resolve("theirs.qcow2");
        String opts = "compat=" + (version == 2 ? "0.10" : "1.1") + ",cluster_size=" + clusterSize + ",refcount_bits=" + refcountBits
                + (lazy ? ",lazy_refcounts=on" : "");
        List<String> cmd = new ArrayList<>(List.of("qemu-img", "create", "-q", "-f", "qcow2", "-o", opts));
        if (backing != null) {
            Files.write(tmp.resolve(backing), new byte[(int) size]);
            cmd.addAll(List.of("-b", backing, "-F", "raw"));
        }
        cmd.addAll(List.of(theirs.toString(), String.valueOf(size)));
        run(cmd.toArray(String[]::new));
        Qcow2Creator.create(ours, size, new Qcow2Creator.Options(version, clusterSize, lazy, refcountBits, backing, backing == null ? null : "raw"));

        ByteBuffer o = header(ours), t = header(theirs);
        assertThat(fields(o)).as("header fields").isEqualTo(fields(t));
        assertThat(o.getLong(40) == 0).as("L1 table offset 0 (no L1 table)").isEqualTo(t.getLong(40) == 0);
        assertThat(extensions(o)).as("header extensions {type, length}").isEqualTo(extensions(t));
        assertThat(info(ours)).as("qemu-img info").isEqualTo(info(theirs));

        QemuTools.Result check = QemuTools.exec("qemu-img", "check", ours.toString());
        assertThat(check.exit()).as("qemu-img check of ours: %s", check.out()).isZero();
        assertThat(imageEnd(check.out())).as("image end (QEMU's: %s)", Files.size(theirs)).isLessThanOrEqualTo(imageEnd(run("qemu-img", "check", theirs.toString())));

        if (size >= 1024) {
            QemuTools.io(ours, "qcow2", "write -P 0x5a 0 512", "write -P 0xa5 " + (size - 512) + " 512");
            QemuTools.Result after = QemuTools.exec("qemu-img", "check", ours.toString());
            assertThat(after.exit()).as("qemu-img check after writes at both ends: %s", after.out()).isZero();
            QemuTools.io(ours, "qcow2", "read -P 0x5a 0 512", "read -P 0xa5 " + (size - 512) + " 512");
        }
    }

    private static ByteBuffer header(Path p) throws IOException {
        byte[] b;
        try (var in = Files.newInputStream(p)) {
            b = in.readNBytes(4096);
        }
        return ByteBuffer.wrap(b);
    }

    /** The fields that do not depend on where the tables were put, and the backing name. */
    private static List<Object> fields(ByteBuffer h) {
        int version = h.getInt(4);
        List<Object> f = new ArrayList<>(List.of(h.getInt(0), version, h.getInt(16), h.getInt(20), h.getLong(24), h.getInt(32),
                h.getInt(36), h.getInt(56), h.getInt(60), h.getLong(64)));
        if (version >= 3) f.addAll(List.of(h.getLong(72), h.getLong(80), h.getLong(88), h.getInt(96), h.getInt(100)));
        long nameOff = h.getLong(8);
        int nameLen = h.getInt(16);
        f.add(nameOff == 0 ? "" : new String(h.array(), (int) nameOff, nameLen, java.nio.charset.StandardCharsets.UTF_8));
        return f;
    }

    /** {type, length} of each header extension, in order. */
    private static List<List<Long>> extensions(ByteBuffer h) {
        List<List<Long>> e = new ArrayList<>();
        int pos = h.getInt(4) >= 3 ? h.getInt(100) : 72;
        while (pos + 8 <= h.capacity()) {
            int type = h.getInt(pos), len = h.getInt(pos + 4);
            if (type == 0) break;
            e.add(List.of(Integer.toUnsignedLong(type), (long) len));
            pos += 8 + ((len + 7) & ~7);
        }
        return e;
    }

    private static String info(Path p) {
        String out = run("qemu-img", "info", "--output=json", p.toString());
        return out.replaceAll("\"filename\": \"[^\"]*\"", "").replaceAll("\"actual-size\": \\d+", "");
    }

    private static long imageEnd(String checkOut) {
        Matcher m = END.matcher(checkOut);
        assertThat(m.find()).as("qemu-img check reports the image end: %s", checkOut).isTrue();
        return Long.parseLong(m.group(1));
    }
}
