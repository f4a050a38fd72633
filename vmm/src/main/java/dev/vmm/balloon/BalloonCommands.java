package dev.vmm.balloon;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.control.QmpServer;
import dev.vmm.control.QmpServer.QmpException;
import dev.vmm.virtio.balloon.BalloonStats;
import dev.vmm.virtio.balloon.VirtioBalloon;

import java.math.BigInteger;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * QEMU's balloon QMP: {@code balloon {value}} (the guest's target size in bytes),
 * {@code query-balloon} ({@code actual}: what the guest has), {@code qom-get}/{@code qom-set} of
 * the balloon's {@code guest-stats} and {@code guest-stats-polling-interval}, and the
 * BALLOON_CHANGE event when the driver changes the balloon. Errors with QEMU 7.2's classes and
 * words (compared with QEMU at test time: {@code BalloonQmpOracleTest}). qom-get/qom-set know only
 * the balloon's paths; any other path is "not found".
 */
public final class BalloonCommands {
    static final String STATS = "guest-stats";
    static final String POLL = "guest-stats-polling-interval";

    private BalloonCommands() {}

    /** Registers the commands; {@code balloon} is null when the machine has none. */
    public static void install(QmpServer qmp, MachineBalloon balloon) {
        if (balloon != null) {
            VirtioBalloon b = balloon.device();
            b.onActualChanged(pages -> qmp.event("BALLOON_CHANGE", Map.of("actual", b.ramBytes() - (pages << VirtioBalloon.PAGE_SHIFT))));
        }
        qmp.register("balloon", Set.of("value"), a -> {
            long value = integer(a, "value", "value");
            VirtioBalloon b = active(balloon);
            if (value <= 0) throw QmpException.generic("Parameter 'target' expects a size");
            b.setTargetBytes(value);
            return Map.of();
        });
        qmp.register("query-balloon", Set.of(), a -> Map.of("actual", active(balloon).guestBytes()));
        qmp.register("qom-get", Set.of("path", "property"), a -> {
            String property = property(a, balloon, false);
            VirtioBalloon b = balloon.device();
            return switch (property) {
                case STATS -> statsJson(b.stats());
                case POLL -> b.pollIntervalSeconds();
                default -> throw notFound(property);
            };
        });
        qmp.register("qom-set", Set.of("path", "property", "value"), a -> {
            String property = property(a, balloon, true);
            switch (property) {
                case STATS -> throw QmpException.generic("Property 'virtio-balloon-device." + STATS + "' is not writable");
                case POLL -> {
                    long v = integer(a, "value", POLL);
                    if (v < 0) throw QmpException.generic("timer value must be greater than zero");
                    if (v > VirtioBalloon.MAX_POLL_SECONDS) throw QmpException.generic("timer value is too big");
                    balloon.device().setPollIntervalSeconds(v);
                }
                default -> throw notFound(property);
            }
            return Map.of();
        });
    }

    private static VirtioBalloon active(MachineBalloon balloon) throws QmpException {
        if (balloon == null) throw new QmpException("DeviceNotActive", "No balloon device has been activated");
        return balloon.device();
    }

    /** Checks the arguments of a qom-get/qom-set ({@code value} too for a set) in QEMU's order; returns the property. */
    private static String property(JsonNode a, MachineBalloon balloon, boolean set) throws QmpException {
        String path = string(a, "path");
        String property = string(a, "property");
        if (set && !a.has("value")) throw QmpException.generic("Parameter 'value' is missing");
        if (balloon == null || !balloon.hasPath(path)) throw new QmpException("DeviceNotFound", "Device '" + path + "' not found");
        return property;
    }

    private static QmpException notFound(String property) {
        return QmpException.generic("Property 'virtio-balloon-pci." + property + "' not found");
    }

    private static String string(JsonNode a, String name) throws QmpException {
        JsonNode v = a.get(name);
        if (v == null || v.isNull()) throw QmpException.generic("Parameter '" + name + "' is missing");
        if (!v.isTextual()) throw QmpException.generic("Invalid parameter type for '" + name + "', expected: string");
        return v.asText();
    }

    /** An integer argument; {@code shownAs} is the name QEMU's error gives it. */
    private static long integer(JsonNode a, String name, String shownAs) throws QmpException {
        JsonNode v = a.get(name);
        if (v == null || v.isNull()) throw QmpException.generic("Parameter '" + name + "' is missing");
        if (!v.isIntegralNumber() || !v.canConvertToLong()) {
            throw QmpException.generic("Invalid parameter type for '" + shownAs + "', expected: integer");
        }
        return v.asLong();
    }

    /** QEMU's {@code guest-stats} value: every tag by name as an unsigned 64-bit number, and the update time. */
    static Map<String, Object> statsJson(BalloonStats s) {
        Map<String, Object> stats = new LinkedHashMap<>();
        for (int tag = 0; tag < BalloonStats.TAGS; tag++) {
            long v = s.value(tag);
            stats.put(BalloonStats.qmpName(tag), v >= 0 ? (Object) v : new BigInteger(Long.toUnsignedString(v)));
        }
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("stats", stats);
        r.put("last-update", s.lastUpdate());
        return r;
    }
}
