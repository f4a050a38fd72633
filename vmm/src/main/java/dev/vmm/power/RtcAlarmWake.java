package dev.vmm.power;

import dev.vmm.chipset.acpi.AcpiPm;
import dev.vmm.chipset.legacy.CmosRtc;
import dev.vmm.threads.ThreadKind;
import dev.vmm.threads.VmmThreads;

import java.util.function.Consumer;

/**
 * The RTC alarm as a wake event, as on QEMU's PC: an alarm interrupt (AF with AIE) while the guest
 * is suspended in S3 and has set RTC_EN in PM1_EN resumes it with RTC_STS set
 * ({@link GuestSleep#wakeup}(true): WAK_STS, the waking vector, WAKEUP). The interrupt arrives on
 * the RTC's timer thread with the model locked, so the wake (which touches vCPUs) runs on a
 * control thread of its own.
 */
public final class RtcAlarmWake {
    private RtcAlarmWake() {}

    /** Connects {@code rtc}'s alarm interrupt to {@code sleep}; {@code failure} hears a wake that could not happen. */
    public static void install(CmosRtc rtc, AcpiPm pm, GuestSleep sleep, Consumer<String> failure) {
        rtc.onAlarmInterrupt(() -> {
            if (!sleep.suspended() || !pm.rtcWakeEnabled()) return;
            VmmThreads.start(ThreadKind.CONTROL, "rtc-wake", () -> {
                try {
                    sleep.wakeup(true);
                } catch (GuestSleep.NotSuspended raced) {
                    // system_wakeup got there first: the guest runs, which is what the alarm wanted
                } catch (RuntimeException e) {
                    failure.accept("RTC alarm wake failed: " + e.getMessage());
                }
            });
        });
    }
}
