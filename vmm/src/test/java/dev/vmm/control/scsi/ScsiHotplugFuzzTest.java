package dev.vmm.control.scsi;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import dev.vmm.control.QmpServer;
import dev.vmm.control.block.BlockNodes;
import dev.vmm.control.block.TestNodes;
import dev.vmm.devices.DeviceRegistry;
import dev.vmm.devices.scsi.ScsiController;
import dev.vmm.virtio.io.IoThread;
import dev.vmm.virtio.scsi.ScsiConfig;
import dev.vmm.virtio.scsi.VirtioScsi;
import dev.vmm.scsi.ScsiTarget;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Jazzer target for {@code device_add scsi-hd} / {@code device_del} as a hostile QMP client sends
 * them: any bus (the start-up controller's, a hot-plugged one, a PCI bus, junk), drive (free, used,
 * missing), {@code scsi-id}/{@code lun}/{@code channel}/{@code bootindex} of any JSON type and value,
 * serials, unknown properties, deletes of any id (twice, unknown, during the controller's removal),
 * and the hot-plugged controller ejected with disks on it. Fails on an exception other than a QMP
 * refusal, or when the drivers' view disagrees with the devices: every claimed node is one LUN,
 * query-block lists exactly the LUNs, a deleted disk's LUN and node are free. Seeds in
 * {@code src/test/resources/dev/vmm/control/scsi/ScsiHotplugFuzzTestInputs/ops}.
 */
class ScsiHotplugFuzzTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] PROPS = {"drive", "bus", "scsi-id", "lun", "channel", "bootindex", "serial", "driver", "x"};
    private static final String[] BUSES = {"scsi.0", "s1.0", "pci.0", "s1", "", "nobus.0"};
    private static final String[] DRIVES = {"n1", "n2", "n3", "nope"};

    /*
     * One fixture for every input (profiled with JFR, session 8: ~100 executions/s, and most of the
     * main thread's native samples were the per-input rmdir of the temporary directory, then the
     * per-input file writes, io_uring setup/teardown and the shared arena close of the I/O thread;
     * then the per-input image opens: realpath, open, fstat, OFD lock, close).
     * The open images and the I/O thread carry no state between inputs: the controllers are never
     * activated, so no request reaches a disk or the thread (never started). What the fuzzer drives
     * (BlockNodes and its claims, the driver, the controllers and their LUNs) is still new per
     * input; the nodes are not closed at the end (they would close the shared images).
     */
    private static final Path DIR;
    private static final IoThread IO;
    private static final java.util.Map<String, dev.vmm.block.BlockDevice> IMAGES = new java.util.LinkedHashMap<>();

    static {
        try {
            Path shm = Path.of("/dev/shm"); // no disk I/O for the per-input opens
            DIR = Files.isDirectory(shm) && Files.isWritable(shm) ? Files.createTempDirectory(shm, "scsi-fuzz") : Files.createTempDirectory("scsi-fuzz");
            DIR.toFile().deleteOnExit(); // deleted after the images (deleteOnExit runs in reverse order)
            for (String n : List.of("n1", "n2", "n3")) {
                Path image = Files.write(DIR.resolve(n + ".raw"), new byte[64 << 10]);
                image.toFile().deleteOnExit();
                IMAGES.put(n, Images.open(image, Images.Options.readWriteDefaults().withFormat(ImageFormat.RAW)));
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        IO = new IoThread("fuzz-io", 16); // never started: the controllers are not activated
    }

    @FuzzTest(maxDuration = "60s")
    void ops(FuzzedDataProvider data) throws Exception {
        IoThread io = IO;
        BlockNodes nodes = new BlockNodes();
        List<VirtioScsi> devices = new ArrayList<>();
        try {
            for (var image : IMAGES.entrySet()) TestNodes.add(nodes, image.getKey(), DIR.resolve(image.getKey() + ".raw"), image.getValue());
            VirtioScsi cold = new VirtioScsi(ScsiTarget.withoutUnits(), ScsiConfig.of(1), List.of(io), m -> { });
            devices.add(cold);
            ScsiController coldController = new ScsiController("scsi.0", cold, null);
            DeviceRegistry machine = new DeviceRegistry(null, List.of());
            ScsiBuses buses = new ScsiBuses(() -> List.of(coldController));
            List<String> deleted = new ArrayList<>();
            ScsiHdDriver driver = new ScsiHdDriver(nodes, buses, machine, () -> null, (name, d) -> deleted.add(String.valueOf(d.get("path"))));
            VirtioScsi hot = null;
            for (int step = 0; step < 48 && data.remainingBytes() > 0; step++) {
                switch (data.consumeInt(0, 3)) {
                    case 0 -> add(data, driver);
                    case 1 -> {
                        String id = "d" + data.consumeInt(0, 3);
                        try {
                            CompletableFuture<Void> gone = driver.delete(id);
                            if (!gone.isDone()) throw new AssertionError("nothing in flight, yet " + id + " is not gone at once");
                        } catch (QmpServer.QmpException refused) {
                            if (driver.owns(id)) throw new AssertionError("device_del of " + id + " refused: " + refused.getMessage());
                        }
                    }
                    case 2 -> {
                        if (hot == null) {
                            hot = new VirtioScsi(ScsiTarget.withoutUnits(), ScsiConfig.of(1), List.of(io), m -> { });
                            devices.add(hot);
                            buses.added(new ScsiController("s1.0", hot, null));
                        }
                    }
                    default -> {
                        if (hot != null) {                 // the guest ejected s1: its disks go with it
                            driver.controllerGone("s1.0");
                            buses.removed("s1.0");
                            hot = null;
                        }
                    }
                }
                check(nodes, machine, cold, hot);
            }
        } finally {
            for (VirtioScsi d : devices) d.close();
        }
    }

    private static void add(FuzzedDataProvider data, ScsiHdDriver driver) {
        ObjectNode args = JSON.createObjectNode();
        args.put("driver", "scsi-hd");
        int n = data.consumeInt(0, 6);
        for (int i = 0; i < n; i++) {
            String prop = PROPS[data.consumeInt(0, PROPS.length - 1)];
            switch (data.consumeInt(0, 5)) {
                case 0 -> args.put(prop, data.consumeInt(-2, 20));
                case 1 -> args.put(prop, data.consumeLong());
                case 2 -> args.put(prop, data.consumeString(8));
                case 3 -> args.put(prop, data.consumeDouble());
                case 4 -> args.put(prop, BUSES[data.consumeInt(0, BUSES.length - 1)]);
                default -> args.put(prop, DRIVES[data.consumeInt(0, DRIVES.length - 1)]);
            }
        }
        String id = data.consumeBoolean() ? "d" + data.consumeInt(0, 3) : null;
        if (id != null && driver.owns(id)) return; // DeviceDrivers refuses a duplicate id before the family
        try {
            driver.add("scsi-hd", id, args);
        } catch (QmpServer.QmpException refused) {
            // a refusal: fine
        }
    }

    /** Every claimed node is one LUN on a controller; query-block lists each LUN once. */
    private static void check(BlockNodes nodes, DeviceRegistry machine, VirtioScsi cold, VirtioScsi hot) {
        int luns = cold.target().lunCount() + (hot == null ? 0 : hot.target().lunCount());
        long claimed = nodes.names().stream().filter(n -> nodes.user(n) != null).count();
        if (claimed != luns) throw new AssertionError(claimed + " nodes claimed for " + luns + " LUNs");
        if (machine.drives().size() != luns) throw new AssertionError("query-block lists " + machine.drives().size() + " of " + luns + " LUNs");
    }
}
