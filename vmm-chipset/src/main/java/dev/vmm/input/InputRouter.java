package dev.vmm.input;

import java.util.ArrayList;
import java.util.List;

/**
 * Which device gets which input event: for each kind, the most recently registered handler that
 * understands it (a device plugged later takes over, as in QEMU where the newest handler is
 * active). Thread-safe; devices register when plugged and unregister when unplugged.
 */
public final class InputRouter {
    private final List<InputHandler> handlers = new ArrayList<>();

    public synchronized void register(InputHandler h) {
        handlers.remove(h);
        handlers.add(h);
    }

    public synchronized void unregister(InputHandler h) {
        handlers.remove(h);
    }

    /** The handler for {@code kind}, or null when no device takes it. */
    public synchronized InputHandler handlerFor(InputEvent.Kind kind) {
        for (int i = handlers.size() - 1; i >= 0; i--) {
            if (handlers.get(i).kinds().contains(kind)) return handlers.get(i);
        }
        return null;
    }

    /** Delivers events in order, then syncs each handler that received one. Missing handlers are the caller's check. */
    public void send(List<InputEvent> events) {
        List<InputHandler> touched = new ArrayList<>();
        for (InputEvent e : events) {
            InputHandler h = handlerFor(e.kind());
            if (h == null) continue;
            h.event(e);
            if (!touched.contains(h)) touched.add(h);
        }
        for (InputHandler h : touched) h.sync();
    }
}
