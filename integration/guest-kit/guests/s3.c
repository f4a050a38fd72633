/*
 * s3: ACPI S3 (suspend to RAM) and back. Finds the FADT, the FACS and \_S3's SLP_TYP in the DSDT,
 * arms the RTC alarm two seconds ahead with RTC_EN set in PM1_EN (or, with wake=qmp, leaves the
 * wake to the host's system_wakeup), writes the kit's real-mode trampoline address into the FACS
 * waking vector and enters S3. Whoever resumes it (firmware, or the VMM itself with direct kernel
 * boot) enters the trampoline in real mode; it climbs back to long mode and runs resumed() below,
 * which checks that RAM survived and what PM1_STS says woke the machine.
 *
 *   s3: entering S3 (SLP_TYP=1, wake by rtc)
 *   s3: resumed: WAK_STS=1 RTC_STS=1 memory kept
 *   s3: ok
 */
#include "kit.h"
#include "internal.h"

#define RTC_INDEX 0x70
#define RTC_DATA  0x71
#define PM1_WAK_STS (1u << 15)
#define PM1_RTC_STS (1u << 10)
#define PM1_RTC_EN  (1u << 10)
#define PM1_SLP_EN  (1u << 13)

/*
 * What resumed() needs, kept outside the kit's image: QEMU loads a direct-boot ELF as ROM blobs
 * and copies them into RAM again on every system reset, which its S3 wake is, so the image's data
 * and .bss come back as loaded. The page after the trampoline is RAM nobody reloads.
 */
struct resume_state {
    uint64_t magic;
    uint16_t pm1_evt;
    uint8_t by_rtc;
};
#define RESUME_STATE ((volatile struct resume_state *)(uint64_t)(KIT_TRAMPOLINE_BASE + 0x800))
#define RESUME_MAGIC 0x53335f6b69742121ull

static uint16_t pm1_evt, pm1_cnt, pm1_evt_len;
static bool by_rtc;
static uint8_t resume_stack[8192] __attribute__((aligned(16)));

static uint8_t cmos_read(uint8_t i) { outb(RTC_INDEX, i); return inb(RTC_DATA); }
static void cmos_write(uint8_t i, uint8_t v) { outb(RTC_INDEX, i); outb(RTC_DATA, v); }

static uint8_t bcd_or_bin(unsigned v, uint8_t b) { return (b & 0x04) ? v : (uint8_t)((v / 10) << 4 | v % 10); }
static unsigned from_reg(uint8_t r, uint8_t b) { return (b & 0x04) ? r : (r >> 4) * 10 + (r & 0xf); }

/* The alarm two seconds after the RTC's current time, in the RTC's own format. */
static void arm_rtc_alarm(void)
{
    uint8_t b = cmos_read(0x0b);
    unsigned h, m, s;
    do {
        while (cmos_read(0x0a) & 0x80)
            cpu_relax();
        s = from_reg(cmos_read(0x00), b);
        m = from_reg(cmos_read(0x02), b);
        uint8_t hr = cmos_read(0x04);
        h = from_reg(hr & 0x7f, b);
        if (!(b & 0x02))
            h = h % 12 + ((hr & 0x80) ? 12 : 0);
    } while (from_reg(cmos_read(0x00), b) != s);
    unsigned t = (h * 3600 + m * 60 + s + 2) % 86400;
    h = t / 3600, m = t / 60 % 60, s = t % 60;
    uint8_t hr;
    if (b & 0x02)
        hr = bcd_or_bin(h, b);
    else
        hr = bcd_or_bin(h % 12 == 0 ? 12 : h % 12, b) | (h >= 12 ? 0x80 : 0);
    cmos_write(0x01, bcd_or_bin(s, b));
    cmos_write(0x03, bcd_or_bin(m, b));
    cmos_write(0x05, hr);
    (void)cmos_read(0x0c);                       /* drop stale flags */
    cmos_write(0x0b, (b & ~0x80) | 0x20);        /* AIE */
    kit_printf("s3: RTC alarm at %02u:%02u:%02u\n", h, m, s);
}

/* SLP_TYPa of \_S3 from the DSDT's AML: Name(_S3_, Package(){a, b, ...}); -1 if absent. */
static int s3_slp_typ(const uint8_t *dsdt, uint32_t len)
{
    for (uint32_t i = 36; i + 8 < len; i++) {
        if (memcmp(dsdt + i, "_S3_", 4) != 0 || dsdt[i + 4] != 0x12)
            continue;
        uint32_t p = i + 5;
        p += 1 + (dsdt[p] >> 6);                 /* PkgLength: lead byte + follow bytes */
        p += 1;                                  /* NumElements */
        if (p + 1 >= len)
            return -1;
        switch (dsdt[p]) {
        case 0x00: return 0;                     /* ZeroOp */
        case 0x01: return 1;                     /* OneOp */
        case 0x0a: return dsdt[p + 1] & 7;       /* BytePrefix */
        default: return -1;
        }
    }
    return -1;
}

/* First C code after the wake, on resume_stack, in the kit's long mode (tables still in RAM). */
static void resumed(void)
{
    kit_idt_load();
    kit_serial_init();
    volatile struct resume_state *st = RESUME_STATE;
    bool kept = st->magic == RESUME_MAGIC;
    uint16_t sts = kept ? inw(st->pm1_evt) : 0;
    kit_printf("s3: resumed: WAK_STS=%d RTC_STS=%d memory %s\n", !!(sts & PM1_WAK_STS), !!(sts & PM1_RTC_STS),
               kept ? "kept" : "LOST");
    bool ok = kept && (sts & PM1_WAK_STS) && (!st->by_rtc || (sts & PM1_RTC_STS));
    kit_printf("s3: %s\n", ok ? "ok" : "FAIL");
    kit_exit(ok ? 0 : 1);
}

static uint64_t *tramp_field(uint64_t *template_field)
{
    return (uint64_t *)(uint64_t)(KIT_TRAMPOLINE_BASE + ((char *)template_field - kit_tramp_start));
}

int main(void)
{
    char wake[8] = "rtc";
    kit_cmdline_str("wake", wake, sizeof wake);
    by_rtc = memcmp(wake, "rtc", 4) == 0;
    if (!by_rtc && memcmp(wake, "qmp", 4) != 0) {
        kit_printf("s3: wake must be rtc or qmp\n");
        return 1;
    }
    const uint8_t *fadt = kit_acpi_table("FACP");
    if (!fadt) {
        kit_printf("s3: no FADT\n");
        return 1;
    }
    uint32_t flen, facs32, dsdt32, evt, cnt;
    uint64_t facs64 = 0, dsdt64 = 0;
    memcpy(&flen, fadt + 4, 4);
    memcpy(&facs32, fadt + 36, 4);
    memcpy(&dsdt32, fadt + 40, 4);
    memcpy(&evt, fadt + 56, 4);
    memcpy(&cnt, fadt + 64, 4);
    pm1_evt_len = fadt[88];
    if (flen >= 140)
        memcpy(&facs64, fadt + 132, 8);
    if (flen >= 148)
        memcpy(&dsdt64, fadt + 140, 8);
    uint8_t *facs = (uint8_t *)(facs64 ? facs64 : facs32);
    const uint8_t *dsdt = (const uint8_t *)(dsdt64 ? dsdt64 : dsdt32);
    if (!facs || memcmp(facs, "FACS", 4) != 0 || !dsdt || memcmp(dsdt, "DSDT", 4) != 0 || !evt || !cnt) {
        kit_printf("s3: FADT lacks a FACS, DSDT or PM1 block\n");
        return 1;
    }
    pm1_evt = evt, pm1_cnt = cnt;
    uint32_t dlen;
    memcpy(&dlen, dsdt + 4, 4);
    int slp_typ = s3_slp_typ(dsdt, dlen);
    if (slp_typ < 0) {
        kit_printf("s3: the DSDT offers no \\_S3\n");
        return 1;
    }

    /* The way back: the trampoline at 0x8000, into resumed() with our page tables. */
    memcpy((void *)(uint64_t)KIT_TRAMPOLINE_BASE, kit_tramp_start, kit_tramp_end - kit_tramp_start);
    uint64_t cr3;
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    *tramp_field(&kit_tramp_cr3) = cr3;
    *tramp_field(&kit_tramp_stack) = (uint64_t)(resume_stack + sizeof resume_stack);
    *tramp_field(&kit_tramp_entry) = (uint64_t)resumed;
    uint32_t vector = KIT_TRAMPOLINE_BASE, length;
    memcpy(facs + 12, &vector, 4);               /* Firmware_Waking_Vector: real mode */
    memcpy(&length, facs + 4, 4);
    if (length >= 32)
        memset(facs + 24, 0, 8);                 /* X_Firmware_Waking_Vector unused */
    RESUME_STATE->pm1_evt = pm1_evt;
    RESUME_STATE->by_rtc = by_rtc;
    RESUME_STATE->magic = RESUME_MAGIC;

    outw(pm1_evt, 0xffff);                       /* clear PM1_STS (write 1 to clear) */
    if (by_rtc) {
        arm_rtc_alarm();
        outw(pm1_evt + pm1_evt_len / 2, PM1_RTC_EN);
    }
    kit_printf("s3: entering S3 (SLP_TYP=%d, wake by %s)\n", slp_typ, wake);
    uint16_t c = inw(pm1_cnt) & ~(7u << 10);
    outw(pm1_cnt, c | (uint16_t)(slp_typ << 10) | PM1_SLP_EN);
    kit_udelay(10 * 1000 * 1000);                /* a suspended machine never gets past this */
    kit_printf("s3: FAIL: still running 10 s after SLP_EN\n");
    return 1;
}
