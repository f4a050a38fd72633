package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vmm.ahci.AtaDisk;
import dev.vmm.ahci.AtapiCdrom;
import dev.vmm.block.BlockDevice;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import dev.vmm.devices.AhciDriveSlot;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code query-block}, {@code eject} and {@code blockdev-change-medium} of the AHCI drives against
 * QEMU 7.2 at test time: QEMU {@code -M q35 -S} with two IDE-index disks and {@code -cdrom} (its
 * ICH9 AHCI ports 0-2, drives ide0-hd0, ide1-hd0, ide2-cd0), ours with the same drives on the same
 * ports; both get the same command script. Compared: every error's class and text, every return,
 * the DEVICE_TRAY_MOVED events (device, tray-open) each command causes, and the query-block entries
 * (device, locked, removable, tray_open, inserted file/ro/drv, image size and format). Image paths
 * differ only by directory (each side has its own copies, both lock them).
 */
@Timeout(120)
class MediaCommandsQemuOracleTest {
    static final ObjectMapper JSON = new ObjectMapper();

    /** A QMP connection that keeps the events it passes. */
    static final class Conn {
        final BufferedReader in;
        final OutputStream out;
        final List<JsonNode> events = new ArrayList<>();

        Conn(BufferedReader in, OutputStream out) throws IOException {
            this.in = in;
            this.out = out;
            in.readLine();   // greeting
            send("{\"execute\":\"qmp_capabilities\"}");
        }

        JsonNode send(String line) throws IOException {
            out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            while (true) {
                String r = in.readLine();
                if (r == null) throw new IOException("peer closed");
                JsonNode n = JSON.readTree(r);
                if (n.has("event")) events.add(n);
                else return n;
            }
        }

        /** The tray events since the last call, as "device:open". */
        List<String> trayEvents() {
            List<String> out = new ArrayList<>();
            for (JsonNode e : events) {
                if (e.get("event").asText().equals("DEVICE_TRAY_MOVED")) {
                    out.add(e.get("data").get("device").asText() + ":" + e.get("data").get("tray-open").asBoolean());
                }
            }
            events.clear();
            return out;
        }
    }

    @Test
    void sameAnswersErrorsAndEventsAsQemu(@TempDir Path dir) throws Exception {
        String qemuExe = Stream.of(System.getenv().getOrDefault("PATH", "/usr/bin").split(":")).map(d -> Path.of(d, "qemu-system-x86_64"))
                .filter(Files::isExecutable).findFirst().map(Path::toString).orElse(null);
        assumeTrue(qemuExe != null, "qemu-system-x86_64 is not installed");
        Path q = Files.createDirectories(dir.resolve("q")), o = Files.createDirectories(dir.resolve("o"));
        for (Path side : List.of(q, o)) {
            for (String n : List.of("h0.raw", "h1.raw")) Files.write(side.resolve(n), new byte[1 << 20]);
            iso(side.resolve("one.iso"), "first");
            iso(side.resolve("two.iso"), "second medium, a little longer");
        }
        Process qemu = new ProcessBuilder(qemuExe, "-M", "q35", "-S", "-display", "none", "-nodefaults", "-qmp", "stdio",
                "-drive", "file=" + q.resolve("h0.raw") + ",format=raw,if=ide,index=0",
                "-drive", "file=" + q.resolve("h1.raw") + ",format=raw,if=ide,index=1",
                "-cdrom", q.resolve("one.iso").toString()).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        List<BlockDevice> images = new ArrayList<>();
        QmpServer server = new QmpServer(dir.resolve("qmp.sock"), "test");
        try {
            List<AhciDriveSlot> slots = new ArrayList<>();
            BlockDevice h0 = Images.open(o.resolve("h0.raw"), Images.Options.readWriteDefaults().withFormat(ImageFormat.RAW));
            BlockDevice h1 = Images.open(o.resolve("h1.raw"), Images.Options.readWriteDefaults().withFormat(ImageFormat.RAW));
            BlockDevice cd = Images.open(o.resolve("one.iso"), Images.Options.readOnlyDefaults().withFormat(ImageFormat.RAW));
            images.addAll(List.of(h0, h1, cd));
            slots.add(new AhciDriveSlot(0, new AtaDisk(h0, AtaDisk.Config.of("A")), o.resolve("h0.raw"), h0, false, images::add));
            slots.add(new AhciDriveSlot(1, new AtaDisk(h1, AtaDisk.Config.of("B")), o.resolve("h1.raw"), h1, false, images::add));
            AtapiCdrom cdrom = new AtapiCdrom(cd, "C");
            slots.add(new AhciDriveSlot(2, cdrom, o.resolve("one.iso"), cd, true, images::add));
            MediaCommands.install(server, () -> slots);
            server.register("query-block", java.util.Set.of(), a -> MediaCommands.queryBlock(slots));
            server.start();
            SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
            ch.connect(UnixDomainSocketAddress.of(server.path()));
            Conn ours = new Conn(new BufferedReader(new InputStreamReader(new DeadlineInputStream(Channels.newInputStream(ch), "our QMP server"), StandardCharsets.UTF_8)), Channels.newOutputStream(ch));
            Conn theirs = new Conn(new BufferedReader(new InputStreamReader(new DeadlineInputStream(qemu.getInputStream(), "QEMU's QMP"), StandardCharsets.UTF_8)), qemu.getOutputStream());

            String two = "%DIR%/two.iso";
            List<String> script = List.of(
                    "{\"execute\":\"query-block\"}",
                    "{\"execute\":\"eject\",\"arguments\":{}}",
                    "{\"execute\":\"eject\",\"arguments\":{\"device\":\"nope\"}}",
                    "{\"execute\":\"eject\",\"arguments\":{\"device\":\"ide0-hd0\",\"id\":\"x\"}}",
                    "{\"execute\":\"eject\",\"arguments\":{\"device\":\"ide0-hd0\"}}",
                    "{\"execute\":\"eject\",\"arguments\":{\"device\":\"ide2-cd0\",\"force\":\"yes\"}}",
                    "{\"execute\":\"eject\",\"arguments\":{\"device\":\"ide2-cd0\",\"bogus\":1}}",
                    "{\"execute\":\"eject\",\"arguments\":{\"device\":\"ide2-cd0\"}}",
                    "{\"execute\":\"query-block\"}",
                    "{\"execute\":\"eject\",\"arguments\":{\"device\":\"ide2-cd0\"}}",
                    "{\"execute\":\"blockdev-change-medium\",\"arguments\":{\"device\":\"ide2-cd0\"}}",
                    "{\"execute\":\"blockdev-change-medium\",\"arguments\":{\"device\":\"ide2-cd0\",\"filename\":\"/nonexistent/x.iso\"}}",
                    "{\"execute\":\"blockdev-change-medium\",\"arguments\":{\"device\":\"ide2-cd0\",\"filename\":42}}",
                    "{\"execute\":\"blockdev-change-medium\",\"arguments\":{\"device\":\"ide0-hd0\",\"filename\":\"" + two + "\"}}",
                    "{\"execute\":\"blockdev-change-medium\",\"arguments\":{\"device\":\"ide2-cd0\",\"filename\":\"" + two + "\",\"format\":\"bogus\"}}",
                    "{\"execute\":\"blockdev-change-medium\",\"arguments\":{\"device\":\"ide2-cd0\",\"filename\":\"" + two + "\",\"format\":\"raw\"}}",
                    "{\"execute\":\"query-block\"}",
                    "{\"execute\":\"blockdev-change-medium\",\"arguments\":{\"device\":\"ide2-cd0\",\"filename\":\"%DIR%/one.iso\",\"format\":\"raw\"}}",
                    "{\"execute\":\"eject\",\"arguments\":{\"device\":\"ide2-cd0\",\"force\":true}}",
                    "{\"execute\":\"query-block\"}");
            for (String line : script) {
                JsonNode a = ours.send(line.replace("%DIR%", o.toString()));
                JsonNode b = theirs.send(line.replace("%DIR%", q.toString()));
                if (b.has("error")) {
                    assertTrue(a.has("error"), line + ": QEMU refused with " + b + ", we answered " + a);
                    assertEquals(b.get("error").get("class"), a.get("error").get("class"), line);
                    assertEquals(b.get("error").get("desc").asText(), a.get("error").get("desc").asText(), line);
                } else if (line.contains("query-block")) {
                    assertEquals(comparable(b.get("return"), q), comparable(a.get("return"), o), line);
                } else {
                    assertEquals(b, a, line);
                }
                assertEquals(theirs.trayEvents(), ours.trayEvents(), "tray events of " + line);
            }
            // The guest saw the changes through the ATAPI model: the last state is an open tray, no medium.
            assertTrue(cdrom.trayOpen());
            assertFalse(cdrom.mediumPresent());
        } finally {
            server.close();
            qemu.destroy();
            qemu.waitFor(10, TimeUnit.SECONDS);
            for (BlockDevice b : images) b.close();
        }
    }

    /** A guest lock (PREVENT ALLOW MEDIUM REMOVAL) refuses a plain eject with QEMU's words, force wins. */
    @Test
    void lockedMediumNeedsForce(@TempDir Path dir) throws Exception {
        Path iso = dir.resolve("a.iso");
        iso(iso, "locked");
        BlockDevice cd = Images.open(iso, Images.Options.readOnlyDefaults().withFormat(ImageFormat.RAW));
        List<BlockDevice> retired = new ArrayList<>();
        AtapiCdrom cdrom = new AtapiCdrom(cd, "L");
        cdrom.restore(new AtapiCdrom.State(false, true, false, 0, 0, 0, 0));   // as the guest's PREVENT ALLOW MEDIUM REMOVAL leaves it
        AhciDriveSlot slot = new AhciDriveSlot(2, cdrom, iso, cd, true, retired::add);
        try {
            assertEquals(AhciDriveSlot.Eject.LOCKED, slot.eject(false));
            assertTrue(cdrom.mediumPresent(), "still in");
            assertEquals("Device 'ide2-cd0' is locked and force was not specified, wait for tray to open and try again", slot.lockedMessage());
            assertEquals(AhciDriveSlot.Eject.OPENED, slot.eject(true));
            assertFalse(cdrom.mediumPresent());
            assertEquals(List.of(cd), retired, "the ejected medium is closed with the machine, not under a running command");
            assertTrue(cdrom.save().mediaEvent() != 0, "a media event is pending for the guest's GET EVENT STATUS NOTIFICATION");
            Path other = dir.resolve("b.iso");
            iso(other, "new medium");
            assertEquals(List.of(false), slot.change(other, "raw", false), "tray was open: it only closes");
            assertTrue(cdrom.mediumPresent());
            assertTrue(cdrom.save().unitAttention(), "the guest's next command gets UNIT ATTENTION (medium changed)");
            retired.add(cdrom.insert(null));
        } finally {
            for (BlockDevice b : new java.util.LinkedHashSet<>(retired)) if (b != null) b.close();
            if (!retired.contains(cd)) cd.close();
        }
    }

    static JsonNode comparable(JsonNode blockInfo, Path dir) {
        var arr = JSON.createArrayNode();
        for (JsonNode d : blockInfo) {
            ObjectNode n = JSON.createObjectNode();
            for (String k : List.of("device", "locked", "removable", "tray_open")) if (d.has(k)) n.set(k, d.get(k));
            JsonNode ins = d.get("inserted");
            if (ins != null) {
                n.put("file", ins.get("file").asText().replace(dir.toString(), "DIR"));
                n.set("ro", ins.get("ro"));
                n.set("drv", ins.get("drv"));
                n.set("virtual-size", ins.get("image").get("virtual-size"));
                n.set("format", ins.get("image").get("format"));
            }
            arr.add(n);
        }
        return arr;
    }

    static void iso(Path out, String text) throws Exception {
        Path src = Files.createTempDirectory(out.getParent(), "iso");
        Files.writeString(src.resolve("readme.txt"), text);
        Process p = new ProcessBuilder("xorriso", "-as", "mkisofs", "-quiet", "-o", out.toString(), src.toString())
                .redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        assumeTrue(p.waitFor() == 0, "xorriso could not build an ISO");
    }
}
