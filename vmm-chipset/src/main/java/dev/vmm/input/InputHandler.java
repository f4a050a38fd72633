package dev.vmm.input;

import java.util.Set;

/**
 * A device that takes input events (a USB tablet, a USB keyboard). Events of one
 * {@code input-send-event} arrive one by one, then {@link #sync()} ends the group: the device turns
 * the new state into one report, as a real device reports a frame.
 */
public interface InputHandler {
    /** The event kinds this device understands. */
    Set<InputEvent.Kind> kinds();

    void event(InputEvent e);

    void sync();
}
