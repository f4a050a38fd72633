/* CPUID helpers and CPU discovery through the ACPI MADT or the MP table. */
#include "internal.h"

void kit_cpu_vendor(char out[13])
{
    uint32_t a, b, c, d;
    cpuid(0, 0, &a, &b, &c, &d);
    memcpy(out, &b, 4);
    memcpy(out + 4, &d, 4);
    memcpy(out + 8, &c, 4);
    out[12] = '\0';
}

uint64_t kit_tsc_khz(void)
{
    uint32_t a, b, c, d, max;
    cpuid(0, 0, &max, &b, &c, &d);
    if (max >= 0x15) {
        cpuid(0x15, 0, &a, &b, &c, &d);
        if (a && b && c)
            return (uint64_t)c * b / a / 1000;
    }
    if (max >= 0x16) {
        cpuid(0x16, 0, &a, &b, &c, &d);
        if (a & 0xffff)
            return (uint64_t)(a & 0xffff) * 1000;
    }
    cpuid(1, 0, &a, &b, &c, &d);
    if (c & (1u << 31)) { /* hypervisor present: timing leaf 0x40000010 if offered */
        cpuid(0x40000000, 0, &max, &b, &c, &d);
        if (max >= 0x40000010 && max < 0x40010000) {
            cpuid(0x40000010, 0, &a, &b, &c, &d);
            if (a)
                return a;
        }
    }
    return 0;
}

/* One 50 ms count of PIT channel 2 (mode 0, gate on, speaker off) in TSC cycles: OUT2 (port 0x61
 * bit 5) rises when the count expires. 0 when it never does. */
static uint64_t pit_cycles_50ms(void)
{
    const uint32_t count = 59659; /* 1193182 Hz * 0.05 s */
    uint8_t p61 = inb(0x61);
    outb(0x61, (uint8_t)((p61 & ~0x02) | 0x01));
    outb(0x43, 0xb0);
    outb(0x42, count & 0xff);
    outb(0x42, count >> 8);
    uint64_t t0 = rdtsc(), t, guard = 0;
    for (;;) {
        t = rdtsc();
        if (inb(0x61) & 0x20)
            break;
        if (++guard > 5000000) {
            outb(0x61, p61);
            return 0;
        }
    }
    outb(0x61, p61);
    return t - t0;
}

uint64_t kit_pit_calibrate_khz(void)
{
    /* The median of five: on a loaded host (or under TCG) single runs come out both too short and
     * too long, the first one especially. */
    uint64_t c[5];
    for (int i = 0; i < 5; i++) {
        c[i] = pit_cycles_50ms();
        if (c[i] == 0)
            return 0;
        for (int k = i; k > 0 && c[k] < c[k - 1]; k--) {
            uint64_t t = c[k];
            c[k] = c[k - 1];
            c[k - 1] = t;
        }
    }
    return c[2] < 1000 ? 0 : c[2] / 50;
}

void kit_udelay(uint64_t us)
{
    uint64_t khz = kit_tsc_khz();
    if (!khz)
        khz = 3000000;
    uint64_t start = rdtsc(), cycles = us * khz / 1000;
    while (rdtsc() - start < cycles)
        cpu_relax();
}

/* ---- table scanning ---- */

static bool checksum_ok(const void *p, size_t len)
{
    const uint8_t *b = p;
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += b[i];
    return sum == 0;
}

/* Scans [start, end) at 16-byte steps for a signature whose first len bytes sum to 0. */
static const void *scan(uint64_t start, uint64_t end, const char *sig, size_t siglen, size_t len)
{
    for (uint64_t p = start; p + len <= end; p += 16)
        if (memcmp((const void *)p, sig, siglen) == 0 && checksum_ok((const void *)p, len))
            return (const void *)p;
    return NULL;
}

/* The three classic areas: first KiB of the EBDA, last KiB below 640K, BIOS ROM. */
static const void *scan_bios_areas(const char *sig, size_t siglen, size_t len)
{
    uint64_t bda_ebda = 0x40e; /* hidden from GCC, which flags constant low pointers */
    __asm__("" : "+r"(bda_ebda));
    uint64_t ebda = (uint64_t)*(volatile uint16_t *)bda_ebda << 4;
    const void *p = NULL;
    if (ebda >= 0x80000 && ebda < 0xa0000)
        p = scan(ebda, ebda + 1024, sig, siglen, len);
    if (!p)
        p = scan(0x9fc00, 0xa0000, sig, siglen, len);
    if (!p)
        p = scan(0xf0000, 0x100000, sig, siglen, len);
    return p;
}

static void add_cpu(struct kit_cpus *out, uint32_t apic_id)
{
    if (out->count < KIT_MAX_CPUS)
        out->apic_ids[out->count] = apic_id;
    out->count++;
}

struct acpi_header {
    char sig[4];
    uint32_t length;
    uint8_t revision, checksum;
    char oem[6], oem_table[8];
    uint32_t oem_rev, creator, creator_rev;
} __attribute__((packed));

static bool table_ok(uint64_t addr, const char *sig)
{
    if (!addr || addr >= (1ull << 32))
        return false;
    const struct acpi_header *h = (const void *)addr;
    return memcmp(h->sig, sig, 4) == 0 && h->length >= sizeof(*h) && h->length < (1u << 20) &&
           checksum_ok(h, h->length);
}

const void *kit_acpi_table(const char *sig)
{
    const uint8_t *rsdp = (const void *)kit_boot.rsdp;
    if (!rsdp || memcmp(rsdp, "RSD PTR ", 8) != 0 || !checksum_ok(rsdp, 20))
        rsdp = scan_bios_areas("RSD PTR ", 8, 20);
    if (!rsdp)
        return NULL;
    uint32_t rsdt;
    uint64_t xsdt = 0;
    memcpy(&rsdt, rsdp + 16, 4);
    if (rsdp[15] >= 2)
        memcpy(&xsdt, rsdp + 24, 8);
    bool x = table_ok(xsdt, "XSDT");
    uint64_t root = x ? xsdt : rsdt;
    if (!x && !table_ok(root, "RSDT"))
        return NULL;
    const struct acpi_header *h = (const void *)root;
    size_t esize = x ? 8 : 4, n = (h->length - sizeof(*h)) / esize;
    for (size_t i = 0; i < n; i++) {
        uint64_t t = 0;
        memcpy(&t, (const uint8_t *)h + sizeof(*h) + i * esize, esize);
        if (table_ok(t, sig))
            return (const void *)t;
    }
    return NULL;
}

static const struct acpi_header *find_madt(void)
{
    return kit_acpi_table("APIC");
}

static bool from_madt(struct kit_cpus *out)
{
    const struct acpi_header *madt = find_madt();
    if (!madt)
        return false;
    const uint8_t *p = (const uint8_t *)madt;
    uint32_t lapic;
    memcpy(&lapic, p + 36, 4);
    out->lapic_base = lapic;
    for (size_t off = 44; off + 2 <= madt->length;) {
        uint8_t type = p[off], len = p[off + 1];
        if (len < 2 || off + len > madt->length)
            break;
        uint32_t flags, id;
        if (type == 0 && len >= 8) {        /* processor local APIC */
            memcpy(&flags, p + off + 4, 4);
            if (flags & 1)
                add_cpu(out, p[off + 3]);
        } else if (type == 9 && len >= 16) { /* processor local x2APIC */
            memcpy(&id, p + off + 4, 4);
            memcpy(&flags, p + off + 8, 4);
            if (flags & 1)
                add_cpu(out, id);
        } else if (type == 5 && len >= 12) { /* local APIC address override */
            memcpy(&out->lapic_base, p + off + 4, 8);
        }
        off += len;
    }
    out->source = "madt";
    return out->count > 0;
}

static bool from_mptable(struct kit_cpus *out)
{
    const uint8_t *fp = scan_bios_areas("_MP_", 4, 16);
    if (!fp)
        return false;
    uint32_t cfg;
    memcpy(&cfg, fp + 4, 4);
    if (!cfg || memcmp((const void *)(uint64_t)cfg, "PCMP", 4) != 0)
        return false;
    const uint8_t *t = (const void *)(uint64_t)cfg;
    uint16_t base_len, entries;
    uint32_t lapic;
    memcpy(&base_len, t + 4, 2);
    memcpy(&entries, t + 34, 2);
    memcpy(&lapic, t + 36, 4);
    if (base_len < 44 || !checksum_ok(t, base_len))
        return false;
    out->lapic_base = lapic;
    size_t off = 44;
    for (unsigned i = 0; i < entries && off < base_len; i++) {
        uint8_t type = t[off];
        if (type == 0) {                    /* processor, 20 bytes */
            if (off + 20 > base_len)
                break;
            if (t[off + 3] & 1) {
                if (t[off + 3] & 2)
                    out->bsp_apic_id = t[off + 1];
                add_cpu(out, t[off + 1]);
            }
            off += 20;
        } else if (type <= 4) {
            off += 8;
        } else {
            break;                          /* unknown entry: length unknown */
        }
    }
    out->source = "mptable";
    return out->count > 0;
}

static uint64_t find_cpus(uint64_t arg)
{
    struct kit_cpus *out = (void *)arg;
    memset(out, 0, sizeof(*out));
    out->bsp_apic_id = ~0u;
    if (from_madt(out))
        return 0;
    memset(out, 0, sizeof(*out));
    out->bsp_apic_id = ~0u;
    if (from_mptable(out))
        return 0;
    memset(out, 0, sizeof(*out));
    out->bsp_apic_id = ~0u;
    out->count = 1;
    out->lapic_base = KIT_LAPIC_DEFAULT_BASE;
    out->source = "none";
    return 0;
}

void kit_find_cpus(struct kit_cpus *out)
{
    /* Scanning the BIOS areas is thousands of compares: do it natively at CPL3. */
    if (current_cpl() == 0)
        kit_run_user(find_cpus, (uint64_t)out);
    else
        find_cpus((uint64_t)out);
}
