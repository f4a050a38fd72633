/*
 * Guest kit runtime: the small freestanding "OS" shared by every test guest.
 *
 * A guest is a C file with `int main(void)`.  The runtime boots it (PVH or
 * multiboot v1), switches to 64-bit long mode with an identity map, sets up
 * GDT/TSS/IDT and COM1, parses the boot information and calls main() at CPL0.
 * The value main() returns is the exit code (see KIT_EXIT_*).
 *
 * CPL0 code is emulated on the PVM host this project is developed on (a few
 * million instructions per second) while CPL3 code runs natively, so hot
 * loops belong in kit_run_user().  Every page of the identity map is
 * user-accessible and user code runs with IOPL=3, so user code may use
 * in/out, MMIO and the serial printf directly.
 */
#ifndef KIT_H
#define KIT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- exit codes (byte written to the exit port) ---- */
#define KIT_EXIT_OK          0
#define KIT_EXIT_FAIL        1 /* generic failure, bad cmdline option */
#define KIT_EXIT_EXCEPTION   2 /* unexpected CPU exception */
#define KIT_EXIT_SMP_TIMEOUT 3 /* an AP did not check in */
#define KIT_EXIT_MEMTEST     4 /* memory pattern mismatch */
#define KIT_EXIT_BOOT        5 /* unusable boot information */

#define KIT_EXIT_PORT 0xf4
#define KIT_COM1      0x3f8

/* ---- boot information (copied out of the loader's structures at start) ---- */
enum kit_boot_protocol { KIT_BOOT_PVH = 1, KIT_BOOT_MULTIBOOT = 2 };

#define KIT_MEM_USABLE      1 /* E820 / PVH / multiboot type 1 */
#define KIT_MAX_MEM_REGIONS 64
#define KIT_CMDLINE_MAX     1024

struct kit_mem_region {
    uint64_t base;
    uint64_t size;
    uint32_t type;
};

struct kit_boot_info {
    int protocol;               /* enum kit_boot_protocol */
    const char *protocol_name;  /* "pvh" or "multiboot" */
    char cmdline[KIT_CMDLINE_MAX];
    struct kit_mem_region mem[KIT_MAX_MEM_REGIONS];
    unsigned mem_count;
    uint64_t rsdp;              /* PVH rsdp_paddr, 0 when not given */
};

extern struct kit_boot_info kit_boot;

/* ---- exit ---- */
__attribute__((noreturn)) void kit_exit(int code);

/* ---- port I/O and CPU helpers ---- */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }

static inline unsigned current_cpl(void)
{
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    return cs & 3;
}

static inline void mmio_write32(uint64_t addr, uint32_t v) { *(volatile uint32_t *)(uintptr_t)addr = v; }
static inline uint32_t mmio_read32(uint64_t addr) { return *(volatile uint32_t *)(uintptr_t)addr; }

/* ---- serial console (COM1, polled 16550) ---- */
void kit_serial_init(void);
void kit_putc(char c);
void kit_write(const char *s, size_t len);
void kit_puts(const char *s); /* no newline added */
/* printf subset: %d %i %u %x %X %p %s %c %% with l/ll/z, width, '0' and '-' flags */
int kit_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kit_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int kit_snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- command line: space-separated key=value tokens ---- */
/* Numeric value of key (decimal, 0x hex, optional K/M/G suffix); def when absent.
 * A malformed value prints an error and exits with KIT_EXIT_FAIL. */
uint64_t kit_cmdline_u64(const char *key, uint64_t def);
/* Copies the value of key into buf (NUL-terminated); false when absent. */
bool kit_cmdline_str(const char *key, char *buf, size_t size);

/* ---- memory ---- */
uint64_t kit_usable_bytes(void);
/* First byte above the kit (image, stacks and pages handed out by kit_alloc_page). */
uint64_t kit_free_start(void);
/* A zeroed 4 KiB page from usable RAM above the image; exits on exhaustion. */
void *kit_alloc_page(void);
bool kit_ram_contains(uint64_t addr, uint64_t len);

/* ---- CPUs ---- */
#define KIT_MAX_CPUS 64
struct kit_cpus {
    unsigned count;                  /* enabled processors */
    uint32_t apic_ids[KIT_MAX_CPUS];
    uint32_t bsp_apic_id;            /* from the tables (MP: BSP flag); ~0u if unknown */
    uint64_t lapic_base;
    const char *source;              /* "madt", "mptable" or "none" */
};
/* Finds CPUs via the ACPI MADT, falling back to the MP table. */
void kit_find_cpus(struct kit_cpus *out);
void kit_cpu_vendor(char out[13]);
/* TSC frequency from CPUID (0x15, 0x16, 0x40000010); 0 when unknown. */
uint64_t kit_tsc_khz(void);
/* Busy-waits about us microseconds (assumes 3 GHz when the TSC rate is unknown). */
void kit_udelay(uint64_t us);

/* ---- CPL3 ---- */
/* Runs fn(arg) at CPL3 (IOPL=3, interrupts off) on the user stack and returns
 * its result.  Not reentrant.  The user side returns with ud2 at a known
 * address which the #UD handler recognises. */
uint64_t kit_run_user(uint64_t (*fn)(uint64_t), uint64_t arg);

/* ---- SMP (xAPIC) ---- */
#define KIT_LAPIC_DEFAULT_BASE 0xfee00000ull
#define KIT_TRAMPOLINE_BASE    0x8000u /* real-mode AP entry page (SIPI vector 0x08) */
uint32_t kit_lapic_id(void);
/* Copies the AP trampoline to KIT_TRAMPOLINE_BASE; call once before kit_start_ap. */
void kit_smp_prepare(void);
/* INIT-SIPI-SIPI to apic_id; the AP enters long mode on stack_top and calls
 * entry(apic_id) at CPL0 with the kit's GDT/IDT.  Returns once the AP has
 * reached 64-bit code, or false after timeout_us. */
bool kit_start_ap(uint32_t apic_id, void *stack_top, void (*entry)(uint32_t), uint64_t timeout_us);

/* ---- strings (also used by the compiler) ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

#define KIT_ALIGN_UP(x, a)   (((x) + (a) - 1) & ~((uint64_t)(a) - 1))
#define KIT_ALIGN_DOWN(x, a) ((x) & ~((uint64_t)(a) - 1))

/* Provided by the guest. */
int main(void);

#endif
