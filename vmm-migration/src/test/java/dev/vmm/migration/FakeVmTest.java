package dev.vmm.migration;

import org.junit.jupiter.api.AfterEach;

/** The fixture of the tests that migrate a {@link FakeVm}: the VM and its destination, closed after each test. */
abstract class FakeVmTest {
    protected FakeVm vm;
    protected FakeVm.Target target;

    @AfterEach
    void closeVmAndTarget() throws Exception {
        if (vm != null) vm.close();
        if (target != null) target.close();
    }
}
