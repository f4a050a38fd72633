package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.input.InputEvent;
import dev.vmm.input.InputRouter;
import dev.vmm.input.KeyCodes;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;

/**
 * QMP {@code input-send-event} in QEMU 7.2's shape:
 *
 * <pre>
 * {"execute":"input-send-event","arguments":{"events":[
 *    {"type":"abs","data":{"axis":"x","value":16384}},
 *    {"type":"btn","data":{"down":true,"button":"left"}},
 *    {"type":"key","data":{"down":true,"key":{"type":"qcode","data":"a"}}},
 *    {"type":"key","data":{"down":false,"key":{"type":"number","data":30}}}]}}
 * </pre>
 *
 * Arguments are checked the way QEMU's generated visitor checks them, in its member order, with its
 * messages (a missing member, a wrong JSON type, an enum value not accepted, an unexpected member);
 * then {@code device} (this VMM has no display, so a device that exists is "not bound to a
 * QemuConsole", as in QEMU without a display), the run state, and a handler for every event kind
 * before any event is delivered. Events go to the newest device of each kind ({@link InputRouter}),
 * then each device that got one makes its report.
 */
public final class InputCommands {
    private InputCommands() {}

    private static final List<String> KINDS = List.of("key", "btn", "rel", "abs");

    /**
     * @param deviceExists whether a {@code device} argument names a device of the machine
     * @param running      whether the guest runs (QEMU refuses events for a stopped VM)
     */
    public static void install(QmpServer qmp, InputRouter router, Predicate<String> deviceExists, BooleanSupplier running) {
        qmp.register("input-send-event", a -> {
            send(a, router, deviceExists, running);
            return Map.of();
        });
    }

    static void send(JsonNode a, InputRouter router, Predicate<String> deviceExists, BooleanSupplier running)
            throws QmpServer.QmpException {
        Visitor v = new Visitor();
        String device = v.optionalString(a, "device", "");
        long head = v.optionalInt(a, "head", "", 0);
        JsonNode events = v.required(a, "events", "");
        if (!events.isArray()) throw type("events", "array");
        List<InputEvent> parsed = new ArrayList<>();
        for (int i = 0; i < events.size(); i++) parsed.add(event(v, events.get(i), "events[" + i + "]"));
        v.noOthers(a, "", Set.of("device", "head", "events"));
        if (device != null) {
            if (!deviceExists.test(device)) throw new QmpServer.QmpException("DeviceNotFound", "Device '" + device + "' not found");
            throw QmpServer.QmpException.generic("Device " + device + " (head " + head + ") is not bound to a QemuConsole");
        }
        if (!running.getAsBoolean()) throw QmpServer.QmpException.generic("VM not running");
        for (InputEvent e : parsed) {
            if (router.handlerFor(e.kind()) == null) {
                throw QmpServer.QmpException.generic("Input handler not found for event type " + e.kind().name().toLowerCase());
            }
        }
        router.send(parsed);
    }

    private static InputEvent event(Visitor v, JsonNode e, String path) throws QmpServer.QmpException {
        if (e == null || !e.isObject()) throw type(path, "object");
        String kind = v.enumValue(e, "type", path, KINDS);
        JsonNode data = v.required(e, "data", path);
        String dp = path + ".data";
        if (!data.isObject()) throw type(dp, "object");
        InputEvent out;
        switch (kind) {
            case "key" -> {
                JsonNode key = v.required(data, "key", dp);
                String kp = dp + ".key";
                if (!key.isObject()) throw type(kp, "object");
                String keyType = v.enumValue(key, "type", kp, List.of("number", "qcode"));
                String qcode;
                if (keyType.equals("number")) {
                    qcode = KeyCodes.fromNumber(v.integer(key, "data", kp));
                } else {
                    qcode = v.enumValue(key, "data", kp, KeyCodes.QCODES);
                }
                v.noOthers(key, kp, Set.of("type", "data"));
                out = new InputEvent.Key(qcode, v.bool(data, "down", dp));
                v.noOthers(data, dp, Set.of("key", "down"));
            }
            case "btn" -> {
                List<String> names = new ArrayList<>();
                for (InputEvent.Button b : InputEvent.Button.values()) names.add(b.qapiName);
                InputEvent.Button b = InputEvent.Button.byName(v.enumValue(data, "button", dp, names));
                out = new InputEvent.Btn(b, v.bool(data, "down", dp));
                v.noOthers(data, dp, Set.of("button", "down"));
            }
            default -> {
                InputEvent.Axis axis = v.enumValue(data, "axis", dp, List.of("x", "y")).equals("x") ? InputEvent.Axis.X : InputEvent.Axis.Y;
                out = new InputEvent.Move(kind.equals("abs"), axis, v.integer(data, "value", dp));
                v.noOthers(data, dp, Set.of("axis", "value"));
            }
        }
        v.noOthers(e, path, Set.of("type", "data"));
        return out;
    }

    private static QmpServer.QmpException type(String path, String expected) {
        return QmpServer.QmpException.generic("Invalid parameter type for '" + path + "', expected: " + expected);
    }

    /** QEMU's QObject input visitor rules and wording, member by member. */
    private static final class Visitor {
        private static String name(String path, String member) {
            return path.isEmpty() ? member : path + "." + member;
        }

        JsonNode required(JsonNode obj, String member, String path) throws QmpServer.QmpException {
            JsonNode n = obj.get(member);
            if (n == null) throw QmpServer.QmpException.generic("Parameter '" + name(path, member) + "' is missing");
            return n;
        }

        String optionalString(JsonNode obj, String member, String path) throws QmpServer.QmpException {
            JsonNode n = obj.get(member);
            if (n == null) return null;
            if (!n.isTextual()) throw type(name(path, member), "string");
            return n.asText();
        }

        long optionalInt(JsonNode obj, String member, String path, long dflt) throws QmpServer.QmpException {
            return obj.has(member) ? integer(obj, member, path) : dflt;
        }

        long integer(JsonNode obj, String member, String path) throws QmpServer.QmpException {
            JsonNode n = required(obj, member, path);
            if (!n.isIntegralNumber() || !n.canConvertToLong()) throw type(name(path, member), "integer");
            return n.asLong();
        }

        boolean bool(JsonNode obj, String member, String path) throws QmpServer.QmpException {
            JsonNode n = required(obj, member, path);
            if (!n.isBoolean()) throw type(name(path, member), "boolean");
            return n.asBoolean();
        }

        /** An enum member: QEMU names only the member (not its path) when the value is unknown. */
        String enumValue(JsonNode obj, String member, String path, List<String> values) throws QmpServer.QmpException {
            JsonNode n = required(obj, member, path);
            if (!n.isTextual()) throw type(name(path, member), "string");
            if (!values.contains(n.asText())) {
                throw QmpServer.QmpException.generic("Parameter '" + member + "' does not accept value '" + n.asText() + "'");
            }
            return n.asText();
        }

        void noOthers(JsonNode obj, String path, Set<String> known) throws QmpServer.QmpException {
            Set<String> seen = new HashSet<>();
            for (Iterator<String> it = obj.fieldNames(); it.hasNext(); ) {
                String f = it.next();
                if (!known.contains(f) && seen.add(f)) {
                    throw QmpServer.QmpException.generic("Parameter '" + name(path, f) + "' is unexpected");
                }
            }
        }
    }
}
