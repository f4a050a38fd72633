package dev.vmm.control.incoming;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.control.QmpServer;
import dev.vmm.control.QmpServer.QmpException;
import dev.vmm.migration.MigrationCapabilities;

import java.util.Map;
import java.util.Set;

/**
 * QMP {@code migrate-incoming {"uri": ...}} as QEMU 7.2 answers it: argument errors first (QAPI's
 * words), then "already started", then "not started with -incoming", then the URI's own refusal —
 * after a MIGRATION {@code setup} event, which QEMU sends for every accepted call even when the
 * URI then fails (a failed URI may be followed by another try). The destination's later status
 * events ({@code active}, {@code completed}, {@code failed}) are sent only with the {@code events}
 * capability, as QEMU's.
 */
public final class IncomingCommands {
    private IncomingCommands() {}

    public static void install(QmpServer qmp, IncomingMigration incoming, MigrationCapabilities caps) {
        incoming.statusEvents(status -> {
            if (caps.events()) qmp.event("MIGRATION", Map.of("status", status));
        });
        qmp.register("migrate-incoming", Set.of("uri"), a -> {
            JsonNode uri = a.get("uri");
            if (uri == null) throw QmpException.generic("Parameter 'uri' is missing");
            if (!uri.isTextual()) throw QmpException.generic("Invalid parameter type for 'uri', expected: string");
            synchronized (incoming) {
                try {
                    incoming.checkStartable();
                    qmp.event("MIGRATION", Map.of("status", "setup"));
                    incoming.start(uri.asText());
                } catch (IllegalStateException e) {
                    throw QmpException.generic(e.getMessage());
                } catch (IncomingUri.Refused e) {
                    throw QmpException.generic(e.getMessage());
                }
            }
            return null;
        });
    }
}
