package dev.vmm.cpuhotplug;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** A KVM-free {@link VcpuFactory}: records plugs and unplugs; thread ids are 1000 + index (boot: 100 + index). */
public final class RecordingVcpuFactory implements VcpuFactory {
    public final List<String> log = new CopyOnWriteArrayList<>();

    @Override
    public Plugged plug(int index) {
        log.add("plug " + index);
        return new Plugged() {
            @Override
            public int threadId() { return 1000 + index; }

            @Override
            public void unplug() { log.add("unplug " + index); }
        };
    }

    @Override
    public int bootThreadId(int index) { return 100 + index; }
}
