package dev.vmm.virtio.pci;

import dev.vmm.virtio.DeviceStatus;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * The interrupt paths run on device I/O threads while vCPU threads use the registers: a reset (which
 * waits for the device's threads while holding the transport lock) must not deadlock with a thread
 * that is signalling, and INTx must never be left low while an ISR bit is set (a lost interrupt) or
 * high with the ISR clear (a stuck level line).
 */
class VirtioPciConcurrencyTest {
    PciRig rig;
    ModernDriver driver;
    FakeVirtioDevice device;

    @BeforeEach
    void setUp() {
        rig = new PciRig();
        device = rig.device;
        driver = new ModernDriver(rig).probe();
        rig.mapBar(0xE000_0000L);
        driver.map();
    }

    @AfterEach
    void tearDown() {
        rig.close();
    }

    private void bringUpIntx() {
        driver.negotiate(VirtioPciDeviceTest.NEGOTIATED);
        driver.setupQueue(0, 128, VirtioPciDevice.NO_VECTOR, VirtioPciDeviceTest.DESC0,
                VirtioPciDeviceTest.AVAIL0, VirtioPciDeviceTest.USED0);
        driver.addStatus(DeviceStatus.DRIVER_OK);
    }

    @Test
    void resetWhileTheDeviceThreadSignalsDoesNotDeadlock() {
        AtomicBoolean stop = new AtomicBoolean();
        Thread[] worker = new Thread[1];
        device.onActivate = () -> {
            var interrupt = device.interrupt;
            stop.set(false);
            worker[0] = new Thread(() -> {
                while (!stop.get()) {
                    interrupt.signalUsedBuffer(0);
                    interrupt.signalConfigChange();
                    interrupt.deviceNeedsReset("device thread error");
                }
            });
            worker[0].setDaemon(true);             // a deadlock must fail the test, not hang the JVM
            worker[0].start();
        };
        device.onReset = () -> {
            if (worker[0] == null) return;
            stop.set(true);
            try {
                worker[0].join();
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
            worker[0] = null;
        };
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
            for (int round = 0; round < 20; round++) {
                bringUpIntx();
                for (int i = 0; i < 50; i++) driver.readIsr();
                driver.reset();                                   // joins the worker under the transport lock
                assertThat(driver.status()).isZero();
                assertThat(rig.transport.peekIsr()).isZero();
                assertThat(rig.intxAsserted()).isFalse();
            }
        });
        assertThat(device.activations).hasSize(20);              // the worker really ran every round
    }

    @Test
    void intxLevelAlwaysMatchesTheIsr() throws Exception {
        bringUpIntx();
        var interrupt = device.interrupt;
        for (int round = 0; round < 100; round++) {
            Thread t = new Thread(() -> {
                for (int i = 0; i < 200; i++) interrupt.signalUsedBuffer(0);
            });
            t.start();
            while (t.isAlive()) driver.readIsr();
            t.join();
            assertThat(rig.intxAsserted()).as("round %d", round).isEqualTo(rig.transport.peekIsr() != 0);
            driver.readIsr();
            assertThat(rig.intxAsserted()).isFalse();
        }
    }
}
