package dev.vmm.control;

import java.util.ArrayList;
import java.util.List;

/**
 * What a test opened (machines, QMP servers and clients, QEMU), closed in the reverse order after
 * each test: a field {@code @AutoClose final Closer open = new Closer();}. Every item is closed even
 * when one fails; the first failure is thrown with the others suppressed.
 */
final class Closer implements AutoCloseable {
    private final List<AutoCloseable> open = new ArrayList<>();

    /** Registers {@code c} to be closed after the test; returns it. */
    <T extends AutoCloseable> T add(T c) {
        open.add(c);
        return c;
    }

    /** How many items were registered (a test uses it to name a second socket). */
    int size() {
        return open.size();
    }

    @Override
    public void close() throws Exception {
        Exception first = null;
        for (AutoCloseable c : open.reversed()) {
            try {
                c.close();
            } catch (Exception e) {
                if (first == null) first = e;
                else first.addSuppressed(e);
            }
        }
        open.clear();
        if (first != null) throw first;
    }
}
