package dev.vmm.dump;

import dev.vmm.control.QmpServer;
import dev.vmm.memory.GuestMemory;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * QMP {@code dump-guest-memory} and {@code query-dump}, and the DUMP_COMPLETED event (QAPI
 * dump.json). The guest is held still while its core is written (as QEMU stops the VM), then goes
 * on; with {@code detach: true} the command returns at once and the dump runs on its own thread.
 */
public final class DumpCommands {
    /** What is dumped: a machine, or a fake one in tests. */
    public interface Source {
        GuestMemory memory();

        /** Runs {@code work} with the vCPUs not running and passes it their registers. */
        void withStoppedVcpus(Work work) throws Exception;
    }

    @FunctionalInterface
    public interface Work {
        void run(List<X86Registers> cpus) throws Exception;
    }

    private final QmpServer qmp;
    private final Source source;
    private String status = "none";
    private long completed, total;

    private DumpCommands(QmpServer qmp, Source source) {
        this.qmp = qmp;
        this.source = source;
    }

    public static void install(QmpServer qmp, Source source) {
        DumpCommands d = new DumpCommands(qmp, source);
        qmp.register("query-dump", a -> d.result());
        qmp.register("dump-guest-memory", d::dump);
    }

    private synchronized Map<String, Object> result() {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("status", status);
        r.put("completed", completed);
        r.put("total", total);
        return r;
    }

    private Object dump(com.fasterxml.jackson.databind.JsonNode args) throws QmpServer.QmpException {
        DumpRequest req;
        try {
            req = DumpRequest.parse(args);
        } catch (IllegalArgumentException e) {
            throw QmpServer.QmpException.generic(e.getMessage());
        }
        synchronized (this) {
            if (status.equals("active")) throw QmpServer.QmpException.generic("there is a dump in process, please wait");
            status = "active";
            completed = 0;
            total = source.memory().size();
        }
        if (req.detach()) {
            dev.vmm.threads.VmmThreads.start(dev.vmm.threads.ThreadKind.CONTROL, "dump", () -> run(req));
            return null;
        }
        String error = run(req);
        if (error != null) throw QmpServer.QmpException.generic(error);
        return null;
    }

    /** Writes the core; returns null or the error, after DUMP_COMPLETED. */
    private String run(DumpRequest req) {
        String error = null;
        try {
            source.withStoppedVcpus(cpus -> ElfCoreWriter.write(req.file(), source.memory(), cpus));
        } catch (Exception e) {
            error = "dump to " + req.file() + " failed: " + e.getMessage();
        }
        Map<String, Object> data = new LinkedHashMap<>();
        synchronized (this) {
            status = error == null ? "completed" : "failed";
            if (error == null) completed = total;
        }
        data.put("result", result());
        if (error != null) data.put("error", error);
        qmp.event("DUMP_COMPLETED", data);
        return error;
    }
}
