package dev.vmm.chipset.testing;

import dev.vmm.chipset.bus.InterruptLine;
import java.util.ArrayList;
import java.util.List;

/** An interrupt line that remembers its level and every transition driven onto it. */
public final class RecordingLine implements InterruptLine {
    private boolean level;
    private final List<Boolean> history = new ArrayList<>();

    @Override
    public synchronized void set(boolean level) {
        this.level = level;
        history.add(level);
    }

    public synchronized boolean level() { return level; }

    /** Number of low-to-high transitions seen (what an edge-triggered IOAPIC pin would count). */
    public synchronized int risingEdges() {
        int n = 0;
        boolean prev = false;
        for (boolean b : history) {
            if (b && !prev) n++;
            prev = b;
        }
        return n;
    }

    public synchronized List<Boolean> history() { return List.copyOf(history); }

    public synchronized void clearHistory() { history.clear(); }
}
