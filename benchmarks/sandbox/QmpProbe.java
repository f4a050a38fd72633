import dev.vmm.control.MigrationCommands;
import dev.vmm.control.QmpServer;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A QMP server with the commands that need no machine (built-ins, migration parameters and
 * capabilities), for measuring the CONTROL thread kind's system calls under strace without
 * /dev/kvm. Serves on args[0] until args[1] exists. Run as a single source file with the vmm class path.
 */
public class QmpProbe {
    public static void main(String[] args) throws Exception {
        QmpServer qmp = new QmpServer(Path.of(args[0]), "probe");
        MigrationCommands.install(qmp, null);
        qmp.start();
        Path stop = Path.of(args[1]);
        while (!Files.exists(stop)) Thread.sleep(50);
        qmp.close();
    }
}
