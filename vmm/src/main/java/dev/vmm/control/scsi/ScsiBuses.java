package dev.vmm.control.scsi;

import dev.vmm.devices.scsi.ScsiController;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The SCSI buses {@code device_add scsi-hd} can name: the {@code --scsi} controller's (found in the
 * machine's registry) and those of controllers plugged at run time, by QEMU's bus names.
 */
final class ScsiBuses {
    private final Supplier<List<ScsiController>> coldPlugged;
    private final Map<String, ScsiController> hotPlugged = new LinkedHashMap<>();
    /** QEMU numbers the buses of anonymous controllers per bus type: scsi.0, scsi.1, ... */
    private int anonymous = -1;

    ScsiBuses(Supplier<List<ScsiController>> coldPlugged) {
        this.coldPlugged = coldPlugged;
    }

    /** Every bus, the start-up controller's first (QEMU's choice when {@code bus} is not given). */
    synchronized List<ScsiController> all() {
        List<ScsiController> all = new ArrayList<>(coldPlugged.get());
        all.addAll(hotPlugged.values());
        return all;
    }

    synchronized ScsiController find(String busName) {
        for (ScsiController c : all()) if (c.busName().equals(busName)) return c;
        return null;
    }

    /** The bus name a new controller gets: {@code <id>.0}, or the next {@code scsi.N}. */
    synchronized String nameFor(String id) {
        if (id != null) return id + ".0";
        if (anonymous < 0) anonymous = coldPlugged.get().size();
        return "scsi." + anonymous++;
    }

    synchronized void added(ScsiController c) {
        hotPlugged.put(c.busName(), c);
    }

    synchronized void removed(String busName) {
        hotPlugged.remove(busName);
    }

    /** The start-up controllers ({@code --scsi}, {@code --scsi-controller}). */
    List<ScsiController> coldPlugged() {
        return coldPlugged.get();
    }

    synchronized boolean coldPlugged(ScsiController c) {
        return coldPlugged.get().contains(c);
    }
}
