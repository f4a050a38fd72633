package dev.vmm.control;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.StandardProtocolFamily;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Jazzer target for the QMP dispatcher as any client of the socket drives it: a byte stream of
 * JSON values (any syntax, several per input) read as {@link QmpServer}'s client loop reads them,
 * each handed to the real dispatcher (capabilities negotiation, 'execute'/'arguments' checks,
 * declared-parameter checks) and to the real commands that need no machine: the built-ins
 * (qmp_capabilities, query-commands, query-version) and the migration commands' argument handling
 * (migrate-set-capabilities, migrate-set-parameters, query-migrate*, migrate_cancel), and
 * block_set_io_throttle's argument and limit checks on a drive {@code d0} of a registry without PCI
 * (its limits really set). 'migrate', x-vmm-ram-hash and query-block (which names the drive's PCI
 * function) read the machine and are left out.
 *
 * <p>Every reply must be an object with exactly one of 'return' / 'error' (with class and desc);
 * a command may refuse with a QmpException or an IllegalArgumentException (a GenericError the user
 * reads), but any other exception inside a command (NullPointerException, ClassCastException ...)
 * is a finding even though the dispatcher turns it into a GenericError. Without JAZZER_FUZZ the
 * seeds under src/test/resources replay (CI).
 */
class QmpDispatchFuzzTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @FuzzTest(maxDuration = "60s")
    @DictionaryEntries({"\"execute\"", "\"arguments\"", "\"id\"", "\"qmp_capabilities\"", "\"query-commands\"", "\"query-version\"",
            "\"migrate-set-capabilities\"", "\"migrate-set-parameters\"", "\"query-migrate\"", "\"query-migrate-capabilities\"",
            "\"query-migrate-parameters\"", "\"migrate_cancel\"", "\"capabilities\"", "\"capability\"", "\"state\"", "\"xbzrle\"",
            "\"auto-converge\"", "\"max-bandwidth\"", "\"downtime-limit\"", "\"xbzrle-cache-size\"", "\"cpu-throttle-initial\"",
            "\"cpu-throttle-increment\"", "\"cpu-throttle-tailslow\"", "\"max-cpu-throttle\"", "\"throttle-trigger-threshold\"",
            "\"x-dirty-log-verify\"", "\"enable\"", "true", "false", "null", "9223372036854775807", "-1", "1e308",
            "\"block_set_io_throttle\"", "\"device\"", "\"d0\"", "\"bps\"", "\"bps_rd\"", "\"iops_wr\"", "\"bps_max\"",
            "\"iops_rd_max_length\"", "\"iops_size\"", "\"group\"", "1000000000000000", "18446744073709551615"})
    void requests(byte[] input) throws Exception {
        QmpServer qmp = new QmpServer(Path.of("/nonexistent/qmp-fuzz.sock"), "fuzz");
        MigrationCommands.install(qmp, null);
        dev.vmm.devices.DeviceRegistry drives = new dev.vmm.devices.DeviceRegistry(null, List.of());
        drives.addDrive(new dev.vmm.machine.BlockDrive("d0", dev.vmm.config.DiskSpec.parse("path=/nonexistent/d0.img"), "raw", 1 << 20,
                new dev.vmm.virtio.blk.ThrottleGroup("d0"), null));
        BlockCommands.install(qmp, () -> drives);
        List<Throwable> bugs = new ArrayList<>();
        wrapCommands(qmp, bugs);
        // A connection that is never read or written: handle() is called directly (an eventfd stands for the socket).
        try (dev.vmm.control.fdpass.FdStreams unused = new dev.vmm.control.fdpass.FdStreams(dev.vmm.ffm.libc.Libc.eventfd(0, 0))) {
            Object client = CLIENT.newInstance(qmp, unused);
            MappingIterator<JsonNode> it;
            try {
                it = JSON.readerFor(JsonNode.class).readValues(input);
            } catch (IOException e) {
                return; // not even the start of a JSON value: the client loop ends here too
            }
            for (int n = 0; n < 64 && more(it); n++) {
                JsonNode req;
                try {
                    req = it.nextValue();
                } catch (IOException | RuntimeException e) {
                    return; // a syntax error or the end: the server answers once and closes the stream
                }
                ObjectNode reply = (ObjectNode) HANDLE.invoke(client, req);
                check(reply, req);
            }
        } catch (InvocationTargetException e) {
            throw new AssertionError("the dispatcher threw", e.getCause());
        }
        if (!bugs.isEmpty()) throw new AssertionError("exception inside a QMP command", bugs.get(0));
    }

    /** hasNextValue as the client loop sees it: an error there ends the session (the client went away). */
    private static boolean more(MappingIterator<JsonNode> it) {
        try {
            return it.hasNextValue();
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    private static void check(ObjectNode reply, JsonNode req) {
        boolean ret = reply.has("return"), err = reply.has("error");
        if (ret == err) throw new AssertionError("reply to " + req + " is neither a return nor an error: " + reply);
        if (err && (!reply.get("error").path("class").isTextual() || !reply.get("error").path("desc").isTextual())) {
            throw new AssertionError("error without class/desc: " + reply);
        }
    }

    /** Each command behind a wrapper that records an exception other than a refusal. */
    @SuppressWarnings("unchecked")
    private static void wrapCommands(QmpServer qmp, List<Throwable> bugs) throws ReflectiveOperationException {
        Field f = QmpServer.class.getDeclaredField("commands");
        f.setAccessible(true);
        Map<String, QmpServer.Command> commands = (Map<String, QmpServer.Command>) f.get(qmp);
        commands.remove("migrate");          // connects out and reads the machine
        commands.remove("x-vmm-ram-hash");   // reads the machine's RAM
        commands.remove("query-block");      // names the drive's PCI function (none here)
        commands.replaceAll((name, c) -> args -> {
            try {
                return c.execute(args);
            } catch (IllegalArgumentException refused) {
                throw refused;
            } catch (RuntimeException e) {
                bugs.add(e);
                throw e;
            }
        });
    }

    private static final Constructor<?> CLIENT;
    private static final Method HANDLE;

    static {
        try {
            Class<?> c = Class.forName(QmpServer.class.getName() + "$Client");
            CLIENT = c.getDeclaredConstructor(QmpServer.class, dev.vmm.control.fdpass.FdStreams.class);
            CLIENT.setAccessible(true);
            HANDLE = c.getDeclaredMethod("handle", JsonNode.class);
            HANDLE.setAccessible(true);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }
}
