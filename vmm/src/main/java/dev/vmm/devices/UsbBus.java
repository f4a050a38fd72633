package dev.vmm.devices;

import dev.vmm.block.BlockDevice;
import dev.vmm.input.InputHandler;
import dev.vmm.input.InputRouter;
import dev.vmm.scsi.ScsiDisk;
import dev.vmm.scsi.ScsiTarget;
import dev.vmm.threads.ThreadKind;
import dev.vmm.threads.VmmThreads;
import dev.vmm.usb.UsbDevice;
import dev.vmm.usb.UsbDeviceSink;
import dev.vmm.usb.UsbSpeed;
import dev.vmm.usb.hid.UsbKeyboard;
import dev.vmm.usb.hid.UsbTablet;
import dev.vmm.usb.storage.UsbStorage;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The machine's USB devices, on whatever controller connected its {@link UsbDeviceSink}: which
 * device is plugged under which id, the input router that {@code input-send-event} feeds (tablets
 * and keyboards register as they are plugged), and the block-layer worker threads usb-storage
 * runs its disk commands on. Shared by the command-line devices and QMP hot-plug.
 */
public final class UsbBus implements AutoCloseable {
    /** One plugged device, with what to close when it is unplugged. */
    public record Plugged(String id, UsbDevice device, int port, AutoCloseable resources) {
    }

    private final InputRouter inputs = new InputRouter();
    private final Map<String, Plugged> devices = new LinkedHashMap<>();
    private UsbDeviceSink sink;
    private ExecutorService diskWorkers;
    private int anonymous;

    /** Called by the controller's attach code: from now on devices can be plugged. */
    public synchronized void connect(UsbDeviceSink controller) {
        this.sink = controller;
    }

    public synchronized boolean connected() { return sink != null; }

    public InputRouter inputs() { return inputs; }

    /** Threads for usb-storage disk commands (block-layer calls block; never a vCPU or I/O thread). */
    synchronized ExecutorService diskWorkers() {
        if (diskWorkers == null) {
            diskWorkers = Executors.newFixedThreadPool(2, VmmThreads.factory(ThreadKind.BLOCK_WORKER, "usb-storage-"));
        }
        return diskWorkers;
    }

    /** A usb-storage device on an open image (one LUN, SuperSpeed). */
    UsbStorage storage(BlockDevice image, String serial) {
        ScsiTarget target = new ScsiTarget(List.of(new ScsiDisk(image, ScsiDisk.Config.of(serial))));
        return new UsbStorage(target, diskWorkers(), UsbSpeed.SUPER, serial);
    }

    /** A HID device by driver name, or null for another name. */
    static UsbDevice hid(String driver) {
        return switch (driver) {
            case "usb-tablet" -> new UsbTablet();
            case "usb-kbd" -> new UsbKeyboard();
            case "usb-mouse" -> new dev.vmm.usb.hid.UsbMouse();
            default -> null;
        };
    }

    /** The serial BOT wants (≥ 12 hex digits), stable per plug order. */
    synchronized String nextSerial() {
        return String.format("VMM%013X", ++anonymous);
    }

    /**
     * Plugs {@code device} under {@code id} (null: a generated id QMP cannot delete). Throws
     * {@link IllegalStateException} (one line) without a controller, for a duplicate id, or with
     * no free port; {@code resources} are then the caller's to close.
     */
    public Plugged plug(String id, UsbDevice device, AutoCloseable resources) {
        UsbDeviceSink s;
        synchronized (this) {
            s = sink;
            if (s == null) throw new IllegalStateException(device.productName() + " needs --usb (the xHCI controller it plugs into)");
            if (id != null && devices.containsKey(id)) throw new IllegalStateException("Duplicate device ID '" + id + "'");
        }
        int port = s.plug(device);
        Plugged p;
        synchronized (this) {
            String key = id != null ? id : "#" + device.productName() + "-" + (++anonymous);
            p = new Plugged(key, device, port, resources);
            devices.put(key, p);
        }
        if (device instanceof InputHandler h) inputs.register(h);
        return p;
    }

    public synchronized boolean has(String id) { return devices.containsKey(id); }

    public synchronized List<Plugged> plugged() { return new ArrayList<>(devices.values()); }

    /** Unplugs the device with this id; the future completes when it is gone and its resources closed. */
    public CompletableFuture<Void> unplug(String id) {
        Plugged p;
        UsbDeviceSink s;
        synchronized (this) {
            p = devices.get(id);
            s = sink;
        }
        if (p == null || s == null) return CompletableFuture.failedFuture(new IllegalStateException("Device '" + id + "' not found"));
        if (p.device() instanceof InputHandler h) inputs.unregister(h); // no more events for it
        return s.unplug(p.device()).thenRun(() -> {
            synchronized (this) {
                devices.remove(id);
            }
            closeQuietly(p.resources());
        });
    }

    /**
     * Opens a usb-storage image as the command line and QMP both do (format probed when not given);
     * {@code deferLock}: an incoming-migration destination (see {@link UsbStorageImage}).
     */
    static UsbStorageImage openImage(Path path, String format, boolean readOnly, boolean deferLock, String what) {
        return UsbStorageImage.open(path, format, readOnly, deferLock, what);
    }

    /**
     * The image locks of every plugged usb-storage device, handed over in a live migration like
     * the disks' (registered by the controller's attach code).
     */
    DiskLocks diskLocks() {
        return new DiskLocks() {
            @Override public void release() { for (UsbStorageImage i : images()) i.releaseLock(); }
            @Override public void acquire() { for (UsbStorageImage i : images()) i.acquireLock(); }
        };
    }

    private List<UsbStorageImage> images() {
        List<UsbStorageImage> out = new ArrayList<>();
        for (Plugged p : plugged()) if (p.resources() instanceof UsbStorageImage i) out.add(i);
        return out;
    }

    private static void closeQuietly(AutoCloseable c) {
        if (c == null) return;
        try {
            c.close();
        } catch (Exception e) {
            System.err.println("vmm: warning: closing a USB device's image: " + e.getMessage());
        }
    }

    @Override
    public void close() {
        List<Plugged> all;
        ExecutorService w;
        synchronized (this) {
            all = new ArrayList<>(devices.values());
            devices.clear();
            w = diskWorkers;
        }
        if (w != null) w.shutdownNow();
        for (Plugged p : all) closeQuietly(p.resources());
    }
}
