package dev.vmm.power;

import dev.vmm.control.QmpServer;

import java.util.Map;
import java.util.Set;

/** QMP {@code system_wakeup}: resumes a guest in S3 (WAKEUP), QEMU's error when it is not suspended. */
public final class PowerCommands {
    private PowerCommands() {}

    public static void install(QmpServer qmp, GuestSleep sleep) {
        qmp.register("system_wakeup", Set.of(), a -> {
            try {
                sleep.wakeup(false);
            } catch (GuestSleep.NotSuspended e) {
                throw QmpServer.QmpException.generic(e.getMessage());
            }
            return Map.of();
        });
    }
}
