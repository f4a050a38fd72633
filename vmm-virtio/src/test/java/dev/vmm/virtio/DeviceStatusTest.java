package dev.vmm.virtio;

import dev.vmm.virtio.DeviceStatus.Transition;
import org.junit.jupiter.api.Test;

import static dev.vmm.virtio.DeviceStatus.ACKNOWLEDGE;
import static dev.vmm.virtio.DeviceStatus.DEVICE_NEEDS_RESET;
import static dev.vmm.virtio.DeviceStatus.DRIVER;
import static dev.vmm.virtio.DeviceStatus.DRIVER_OK;
import static dev.vmm.virtio.DeviceStatus.FAILED;
import static dev.vmm.virtio.DeviceStatus.FEATURES_OK;
import static dev.vmm.virtio.VirtioFeatures.VIRTIO_F_EVENT_IDX;
import static dev.vmm.virtio.VirtioFeatures.VIRTIO_F_INDIRECT_DESC;
import static dev.vmm.virtio.VirtioFeatures.VIRTIO_F_VERSION_1;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class DeviceStatusTest {
    static final long DEVICE_BIT_5 = 1L << 5;
    static final long OFFERED = VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX | VIRTIO_F_INDIRECT_DESC | DEVICE_BIT_5;

    final DeviceStatus s = new DeviceStatus(OFFERED);

    private void acceptFeatures(long features) {
        s.writeDriverFeatureWord(0, (int) features);
        s.writeDriverFeatureWord(1, (int) (features >>> 32));
    }

    @Test
    void linuxStyleInitialisation() {
        assertThat(s.status()).isZero();
        assertThat(s.writeStatus(ACKNOWLEDGE)).isEqualTo(Transition.PROGRESSED);
        assertThat(s.writeStatus(ACKNOWLEDGE | DRIVER)).isEqualTo(Transition.PROGRESSED);
        assertThat(s.deviceFeatureWord(0)).isEqualTo((int) OFFERED);
        assertThat(s.deviceFeatureWord(1)).isEqualTo(1);
        assertThat(s.deviceFeatureWord(2)).isZero();
        acceptFeatures(VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX);
        assertThat(s.negotiatedFeatures()).as("not before FEATURES_OK").isZero();
        assertThat(s.queueSetupAllowed()).isFalse();
        assertThat(s.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK)).isEqualTo(Transition.FEATURES_ACCEPTED);
        assertThat(s.status() & FEATURES_OK).isNotZero();
        assertThat(s.negotiatedFeatures()).isEqualTo(VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX);
        assertThat(s.queueSetupAllowed()).isTrue();
        assertThat(s.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK)).isEqualTo(Transition.DRIVER_OK);
        assertThat(s.driverOk()).isTrue();
        assertThat(s.queueSetupAllowed()).isFalse();
        assertThat(s.status()).isEqualTo(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        assertThat(s.writeStatus(s.status())).isEqualTo(Transition.NONE);
    }

    @Test
    void featuresOkIsRefusedForUnofferedBits() {
        s.writeStatus(ACKNOWLEDGE);
        s.writeStatus(ACKNOWLEDGE | DRIVER);
        acceptFeatures(VIRTIO_F_VERSION_1 | (1L << 6));
        assertThat(s.featureProblem()).contains("did not offer").contains("0x40");
        assertThat(s.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK)).isEqualTo(Transition.FEATURES_REJECTED);
        assertThat(s.status()).isEqualTo(ACKNOWLEDGE | DRIVER);
        assertThat(s.negotiatedFeatures()).isZero();
        // The driver may try again with an acceptable set.
        acceptFeatures(VIRTIO_F_VERSION_1);
        assertThat(s.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK)).isEqualTo(Transition.FEATURES_ACCEPTED);
    }

    @Test
    void featuresOkIsRefusedWithoutVersion1() {
        s.writeStatus(ACKNOWLEDGE | DRIVER);
        acceptFeatures(VIRTIO_F_EVENT_IDX);
        assertThat(s.featureProblem()).contains("VIRTIO_F_VERSION_1");
        assertThat(s.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK)).isEqualTo(Transition.FEATURES_REJECTED);
        assertThat(s.driverOk()).isFalse();
        assertThat(s.featuresOk()).isFalse();
    }

    @Test
    void featureBitsAbove63AreNeverOffered() {
        s.writeStatus(ACKNOWLEDGE | DRIVER);
        acceptFeatures(VIRTIO_F_VERSION_1);
        assertThat(s.writeDriverFeatureWord(2, 1)).isTrue();
        assertThat(s.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK)).isEqualTo(Transition.FEATURES_REJECTED);
        assertThat(s.featureProblem()).contains("above 63");
    }

    @Test
    void driverFeaturesAreOnlyWritableBetweenDriverAndFeaturesOk() {
        assertThat(s.writeDriverFeatureWord(0, -1)).isFalse();
        s.writeStatus(ACKNOWLEDGE);
        assertThat(s.writeDriverFeatureWord(0, -1)).isFalse();
        assertThat(s.driverFeatures()).isZero();
        s.writeStatus(ACKNOWLEDGE | DRIVER);
        acceptFeatures(VIRTIO_F_VERSION_1 | DEVICE_BIT_5);
        assertThat(s.driverFeatureWord(0)).isEqualTo((int) DEVICE_BIT_5);
        assertThat(s.driverFeatureWord(1)).isEqualTo(1);
        s.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK);
        assertThat(s.writeDriverFeatureWord(0, 0)).isFalse();
        assertThat(s.negotiatedFeatures()).isEqualTo(VIRTIO_F_VERSION_1 | DEVICE_BIT_5);
    }

    @Test
    void outOfOrderStepsAreIgnored() {
        assertThat(s.writeStatus(DRIVER)).isEqualTo(Transition.IGNORED);
        assertThat(s.writeStatus(DRIVER_OK)).isEqualTo(Transition.IGNORED);
        assertThat(s.status()).isZero();
        s.writeStatus(ACKNOWLEDGE);
        assertThat(s.writeStatus(ACKNOWLEDGE | FEATURES_OK)).isEqualTo(Transition.IGNORED);
        s.writeStatus(ACKNOWLEDGE | DRIVER);
        assertThat(s.writeStatus(ACKNOWLEDGE | DRIVER | DRIVER_OK)).as("DRIVER_OK before FEATURES_OK").isEqualTo(Transition.IGNORED);
        assertThat(s.status()).isEqualTo(ACKNOWLEDGE | DRIVER);
    }

    @Test
    void severalStepsInOneWriteAreTakenInOrder() {
        assertThat(s.writeStatus(ACKNOWLEDGE | DRIVER)).isEqualTo(Transition.PROGRESSED);
        acceptFeatures(VIRTIO_F_VERSION_1);
        assertThat(s.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK)).isEqualTo(Transition.DRIVER_OK);
        assertThat(s.status()).isEqualTo(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
    }

    @Test
    void clearingBitsWithoutResetIsIgnored() {
        s.writeStatus(ACKNOWLEDGE | DRIVER);
        assertThat(s.writeStatus(ACKNOWLEDGE)).isEqualTo(Transition.IGNORED);
        assertThat(s.status()).isEqualTo(ACKNOWLEDGE | DRIVER);
    }

    @Test
    void zeroResets() {
        s.writeStatus(ACKNOWLEDGE | DRIVER);
        acceptFeatures(VIRTIO_F_VERSION_1);
        s.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        s.setNeedsReset();
        assertThat(s.writeStatus(0)).isEqualTo(Transition.RESET);
        assertThat(s.status()).isZero();
        assertThat(s.driverFeatures()).isZero();
        assertThat(s.negotiatedFeatures()).isZero();
        assertThat(s.needsReset()).isFalse();
    }

    @Test
    void needsResetIsDeviceOwnedAndSticky() {
        s.writeStatus(ACKNOWLEDGE | DRIVER);
        assertThat(s.setNeedsReset()).as("no DRIVER_OK yet: no config interrupt").isFalse();
        assertThat(s.status()).isEqualTo(ACKNOWLEDGE | DRIVER | DEVICE_NEEDS_RESET);
        // The driver writing back what it read neither clears nor confuses it.
        assertThat(s.writeStatus(s.status())).isEqualTo(Transition.NONE);
        assertThat(s.writeStatus(ACKNOWLEDGE | DRIVER)).isEqualTo(Transition.NONE);
        assertThat(s.needsReset()).isTrue();
        acceptFeatures(VIRTIO_F_VERSION_1);
        assertThat(s.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK)).as("only a reset gets out").isEqualTo(Transition.IGNORED);
    }

    @Test
    void needsResetAfterDriverOkAsksForAConfigInterrupt() {
        s.writeStatus(ACKNOWLEDGE | DRIVER);
        acceptFeatures(VIRTIO_F_VERSION_1);
        s.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        assertThat(s.setNeedsReset()).isTrue();
        assertThat(s.setNeedsReset()).as("only once").isFalse();
        assertThat(s.driverOk()).isTrue();
    }

    @Test
    void driverCanGiveUp() {
        s.writeStatus(ACKNOWLEDGE | DRIVER);
        assertThat(s.writeStatus(ACKNOWLEDGE | DRIVER | FAILED)).isEqualTo(Transition.FAILED);
        assertThat(s.failed()).isTrue();
        assertThat(s.writeStatus(ACKNOWLEDGE | DRIVER | FAILED | FEATURES_OK)).isEqualTo(Transition.IGNORED);
        assertThat(s.writeStatus(0)).isEqualTo(Transition.RESET);
        assertThat(s.failed()).isFalse();
    }

    @Test
    void unknownStatusBitsAreDropped() {
        assertThat(s.writeStatus(ACKNOWLEDGE | 0x10 | 0x20 | 0x100)).isEqualTo(Transition.PROGRESSED);
        assertThat(s.status()).isEqualTo(ACKNOWLEDGE);
    }

    @Test
    void aModernDeviceMustOfferVersion1() {
        assertThatThrownBy(() -> new DeviceStatus(VIRTIO_F_EVENT_IDX)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void featureDescriptionNamesKnownBits() {
        assertThat(VirtioFeatures.describe(VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX)).isEqualTo("0x120000000 [EVENT_IDX,VERSION_1]");
        assertThat(VirtioFeatures.describe(1)).isEqualTo("0x1");
        assertThat(VirtioFeatures.has(OFFERED, VIRTIO_F_VERSION_1 | DEVICE_BIT_5)).isTrue();
        assertThat(VirtioFeatures.has(OFFERED, 1L << 40)).isFalse();
    }
}
