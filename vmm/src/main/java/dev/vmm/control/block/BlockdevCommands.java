package dev.vmm.control.block;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.block.BlockDevice;
import dev.vmm.block.BlockException;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import dev.vmm.control.DeviceDrivers;
import dev.vmm.control.QmpServer;
import dev.vmm.control.QmpServer.QmpException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

/**
 * QMP {@code blockdev-add} and {@code blockdev-del}, the subset libvirt uses to give a hot-plugged
 * disk its image: {@code driver} raw or qcow2 over {@code {"driver": "file", "filename": ...}},
 * {@code node-name}, {@code read-only}, {@code discard} (ignore|unmap) and {@code cache}
 * ({@code direct}, {@code no-flush}). The image is opened (and locked) by the block layer at
 * {@code blockdev-add}, as QEMU opens it, so a second user of the file fails from then on.
 * Errors use QEMU's class and wording.
 */
public final class BlockdevCommands {
    private static final Set<String> ADD_PARAMS = Set.of("driver", "node-name", "file", "read-only", "discard", "cache");
    private static final Set<String> FILE_PARAMS = Set.of("driver", "filename");
    private static final Set<String> CACHE_PARAMS = Set.of("direct", "no-flush");
    private static final Set<String> DRIVERS = Set.of("raw", "qcow2");

    private BlockdevCommands() {}

    /** Registers the two commands over {@code nodes}. */
    public static void install(QmpServer qmp, BlockNodes nodes) {
        qmp.register("blockdev-add", ADD_PARAMS, a -> {
            nodes.add(open(a, nodes));
            return Map.of();
        });
        qmp.register("blockdev-del", Set.of("node-name"), a -> {
            nodes.delete(text(a, "node-name", true));
            return Map.of();
        });
    }

    /** Validates the arguments in QEMU's order and opens the image. */
    static BlockNode open(JsonNode a, BlockNodes nodes) throws QmpException {
        String driver = text(a, "driver", true);
        if (!DRIVERS.contains(driver)) throw notAccepted("driver", driver);
        String name = text(a, "node-name", false);
        boolean readOnly = bool(a, "read-only", false);
        String discard = text(a, "discard", false);
        if (discard != null && !discard.equals("ignore") && !discard.equals("unmap")) throw notAccepted("discard", discard);
        JsonNode cache = object(a, "cache", CACHE_PARAMS, false);
        boolean direct = cache != null && bool(cache, "direct", false);
        boolean noFlush = cache != null && bool(cache, "no-flush", false);
        JsonNode file = object(a, "file", FILE_PARAMS, true);
        String fileDriver = text(file, "driver", true);
        if (!fileDriver.equals("file")) throw QmpException.generic("blockdev-add: only the 'file' protocol is supported, not '" + fileDriver + "'");
        String filename = text(file, "filename", true);
        if (name == null) throw QmpException.generic("'node-name' must be specified for the root node");
        if (!DeviceDrivers.validId(name) || name.length() >= 32) throw QmpException.generic("Invalid node-name: '" + name + "'");
        if (nodes.contains(name)) throw duplicate(name); // before opening: the image may be the node's own
        Path path = Path.of(filename);
        if (!Files.exists(path)) throw QmpException.generic("Could not open '" + filename + "': No such file or directory");
        ImageFormat format = ImageFormat.byName(driver);
        try {
            if (format == ImageFormat.QCOW2 && Images.probe(path) != ImageFormat.QCOW2) {
                throw QmpException.generic("Image is not in qcow2 format");
            }
            Images.Options o = (readOnly ? Images.Options.readOnlyDefaults() : Images.Options.readWriteDefaults()).withFormat(format);
            BlockDevice dev = Images.open(path, o);
            return new BlockNode(name, path, driver, readOnly, "unmap".equals(discard), direct, noFlush, dev);
        } catch (BlockException e) {
            throw QmpException.generic("Could not open '" + filename + "': " + e.getMessage());
        }
    }

    static QmpException duplicate(String name) {
        return QmpException.generic("Duplicate nodes with node-name='" + name + "'");
    }

    private static QmpException notAccepted(String param, String value) {
        return QmpException.generic("Parameter '" + param + "' does not accept value '" + value + "'");
    }

    private static String text(JsonNode a, String key, boolean required) throws QmpException {
        JsonNode v = a.get(key);
        if (v == null || v.isNull()) {
            if (required) throw QmpException.generic("Parameter '" + key + "' is missing");
            return null;
        }
        if (!v.isTextual()) throw QmpException.generic("Invalid parameter type for '" + key + "', expected: string");
        return v.asText();
    }

    private static boolean bool(JsonNode a, String key, boolean dflt) throws QmpException {
        JsonNode v = a.get(key);
        if (v == null || v.isNull()) return dflt;
        if (!v.isBoolean()) throw QmpException.generic("Invalid parameter type for '" + key + "', expected: boolean");
        return v.asBoolean();
    }

    /** A nested object whose members are among {@code allowed}, or null when absent and optional. */
    private static JsonNode object(JsonNode a, String key, Set<String> allowed, boolean required) throws QmpException {
        JsonNode v = a.get(key);
        if (v == null || v.isNull()) {
            if (required) throw QmpException.generic("Parameter '" + key + "' is missing");
            return null;
        }
        if (!v.isObject()) throw QmpException.generic("Invalid parameter type for '" + key + "', expected: object");
        for (var it = v.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!allowed.contains(f)) throw QmpException.generic("Parameter '" + key + "." + f + "' is unexpected");
        }
        return v;
    }
}
