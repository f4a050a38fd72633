/*
 * cpuid: prints every CPUID leaf the (virtual) processor reports, one line each:
 *
 *     cpuid FUNCTION INDEX: EAX EBX ECX EDX        (all hex, 8 digits; INDEX 2 digits)
 *
 * basic leaves 0..max, the hypervisor range at 0x40000000 (and KVM's at 0x40000100 when Hyper-V
 * took 0x40000000), extended leaves 0x80000000..max, with the subleaves of the leaves that have
 * them (SDM vol. 2A, CPUID).  Used to compare the CPUID a --cpu model gives with QEMU's -cpu.
 * Ends with "cpuid: done" and exit 0.
 */
#include "kit.h"

static void show(uint32_t leaf, uint32_t sub)
{
    uint32_t a, b, c, d;
    cpuid(leaf, sub, &a, &b, &c, &d);
    kit_printf("cpuid %08x %02x: %08x %08x %08x %08x\n", leaf, sub, a, b, c, d);
}

static uint32_t reg(uint32_t leaf, uint32_t sub, int which)
{
    uint32_t r[4];
    cpuid(leaf, sub, &r[0], &r[1], &r[2], &r[3]);
    return r[which];
}

/* Subleaves until the "type" field (ECX[15:8] for topology, EAX[4:0] for caches) reads 0. */
static void until_zero(uint32_t leaf, int which, uint32_t shift, uint32_t mask)
{
    for (uint32_t s = 0; s < 16; s++) {
        show(leaf, s);
        if (((reg(leaf, s, which) >> shift) & mask) == 0)
            break;
    }
}

static void basic_leaf(uint32_t leaf)
{
    switch (leaf) {
    case 0x4:
        until_zero(leaf, 0, 0, 0x1f);
        break;
    case 0x7:
    case 0x14: {
        uint32_t max = reg(leaf, 0, 0);
        for (uint32_t s = 0; s <= max && s < 8; s++)
            show(leaf, s);
        break;
    }
    case 0xb:
    case 0x1f:
        until_zero(leaf, 2, 8, 0xff);
        break;
    case 0xd: {
        uint64_t comps = reg(0xd, 0, 0) | ((uint64_t)reg(0xd, 0, 3) << 32) |
                         reg(0xd, 1, 2) | ((uint64_t)reg(0xd, 1, 3) << 32);
        show(leaf, 0);
        show(leaf, 1);
        for (uint32_t s = 2; s < 63; s++)
            if (comps & (1ull << s))
                show(leaf, s);
        break;
    }
    case 0xf:
    case 0x10:
    case 0x12:
        for (uint32_t s = 0; s < 4; s++)
            show(leaf, s);
        break;
    default:
        show(leaf, 0);
    }
}

static void range(uint32_t base, uint32_t cap)
{
    uint32_t max = reg(base, 0, 0);
    if (max < base || max > base + cap)
        max = base;
    for (uint32_t l = base; l <= max; l++) {
        if (l == 0x8000001d)
            until_zero(l, 0, 0, 0x1f);
        else if (base == 0)
            basic_leaf(l);
        else
            show(l, 0);
    }
}

int main(void)
{
    range(0, 0x40);
    if (reg(1, 0, 2) & (1u << 31)) { /* hypervisor present */
        range(0x40000000, 0x20);
        uint32_t kvm = reg(0x40000100, 0, 1);
        if (kvm == 0x4b4d564b) /* "KVMK": KVM's leaves moved behind Hyper-V's */
            range(0x40000100, 0x10);
    }
    range(0x80000000, 0x40);
    kit_printf("cpuid: done\n");
    return KIT_EXIT_OK;
}
