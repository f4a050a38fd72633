package dev.vmm.config.scsi;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vmm.config.ConfigException;
import dev.vmm.config.DeviceSpec;
import dev.vmm.config.DiskSpec;
import dev.vmm.config.ScsiControllerSpec;
import dev.vmm.config.ids.StartupIds;
import dev.vmm.config.pci.PlacedSpec;
import dev.vmm.scsi.ScsiTarget;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Jazzer target for the SCSI command-line options of issue 15: any text, one option per line
 * ({@code C ...} = a {@code --scsi-controller} value, {@code D ...} = a {@code --disk} value, anything
 * else a {@code --scsi} value), through {@link ScsiLayout#add} and {@link StartupIds#check}. Each
 * input must be refused with one non-empty line ({@link ConfigException}) or give controllers whose
 * LUNs are distinct and in 0..16383, ids unique and valid, disks and units parallel. Nothing is
 * opened (the layout only parses). Without JAZZER_FUZZ the seeds under src/test/resources replay (CI).
 */
class ScsiLayoutFuzzTest {
    @FuzzTest(maxDuration = "60s")
    @DictionaryEntries({"C id=", "D path=x,id=", "path=a", ",controller=", ",lun=", ",scsi-id=", ",channel=", ",id=", ",queues=",
            ",bus=", ",addr=", "s1", "pci.0", "16383", "16384", "255", "256", "4294967295", "4294967296", "-1", ",,", "=", "rp1",
            "(null)", ",serial=", ",readonly=on", ",format=raw"})
    void layouts(byte[] input) {
        List<String> scsi = new ArrayList<>(), controllers = new ArrayList<>();
        List<DeviceSpec> specs = new ArrayList<>();
        try {
            for (String line : new String(input, StandardCharsets.UTF_8).split("\n", -1)) {
                if (line.startsWith("C ")) controllers.add(line.substring(2));
                else if (line.startsWith("D ")) specs.add(DiskSpec.parse(line.substring(2)));
                else scsi.add(line);
            }
            int before = specs.size();
            ScsiLayout.add(specs, scsi, controllers);
            StartupIds.check(specs);
            for (DeviceSpec s : specs.subList(before, specs.size())) check(s instanceof PlacedSpec p ? (ScsiControllerSpec) p.device() : (ScsiControllerSpec) s);
        } catch (ConfigException e) {
            String m = e.getMessage();
            if (m == null || m.isEmpty() || m.contains("\n")) throw new AssertionError("refusal not one line: '" + m + "'");
        }
    }

    private static void check(ScsiControllerSpec c) {
        if (c.disks().size() != c.units().size()) throw new AssertionError("disks and units differ");
        if (c.id() != null && !c.id().matches(DiskSpec.ID_PATTERN)) throw new AssertionError("controller id " + c.id());
        Set<Integer> luns = new HashSet<>();
        for (ScsiControllerSpec.Unit u : c.units()) {
            if (u.lun() < 0 || u.lun() > ScsiTarget.MAX_LUN || !luns.add(u.lun())) throw new AssertionError("LUN " + u.lun() + " in " + c);
            if (u.id() != null && !u.id().matches(DiskSpec.ID_PATTERN)) throw new AssertionError("LUN id " + u.id());
        }
    }
}
