package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * Reads command arguments as QEMU's QAPI input visitor does, with its error texts: a missing
 * required member is {@code Parameter 'P' is missing}, a member of another JSON type (JSON null
 * included) is {@code Invalid parameter type for 'P', expected: T}; {@code P} is the member's path
 * from the arguments ({@code backend.data.out}), as QEMU names nested members.
 */
final class QapiArguments {
    private QapiArguments() {}

    private static String at(String parent, String key) {
        return parent.isEmpty() ? key : parent + "." + key;
    }

    /** The member, or null when absent and optional. */
    private static JsonNode member(JsonNode from, String parent, String key, boolean required) throws QmpServer.QmpException {
        JsonNode n = from.get(key);
        if (n == null && required) throw QmpServer.QmpException.generic("Parameter '" + at(parent, key) + "' is missing");
        return n;
    }

    private static QmpServer.QmpException type(String parent, String key, String expected) {
        return QmpServer.QmpException.generic("Invalid parameter type for '" + at(parent, key) + "', expected: " + expected);
    }

    /** A string member of {@code from} (at {@code parent}), or null when optional and absent. */
    static String string(JsonNode from, String parent, String key, boolean required) throws QmpServer.QmpException {
        JsonNode n = member(from, parent, key, required);
        if (n == null) return null;
        if (!n.isTextual()) throw type(parent, key, "string");
        return n.asText();
    }

    /** An object member, or null when optional and absent. */
    static JsonNode object(JsonNode from, String parent, String key, boolean required) throws QmpServer.QmpException {
        JsonNode n = member(from, parent, key, required);
        if (n == null) return null;
        if (!n.isObject()) throw type(parent, key, "object");
        return n;
    }

    /** An int64 member, {@code absent} when optional and not given. */
    static long integer(JsonNode from, String parent, String key, boolean required, long absent) throws QmpServer.QmpException {
        JsonNode n = member(from, parent, key, required);
        if (n == null) return absent;
        if (!n.isIntegralNumber() || !n.canConvertToLong()) throw type(parent, key, "integer");
        return n.asLong();
    }

    /** A boolean member, {@code absent} when optional and not given. */
    static boolean bool(JsonNode from, String parent, String key, boolean absent) throws QmpServer.QmpException {
        JsonNode n = member(from, parent, key, false);
        if (n == null) return absent;
        if (!n.isBoolean()) throw type(parent, key, "boolean");
        return n.asBoolean();
    }
}
