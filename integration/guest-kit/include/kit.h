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
/* bytes (rounded up to 4 KiB) of usable RAM aligned to align (>= 4 KiB), NOT zeroed: for
 * large DMA buffers, which CPL0 would take ages to clear on the PVM host.  Exits on exhaustion. */
void *kit_alloc_raw(uint64_t bytes, uint64_t align);
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
/* The ACPI table with signature sig (4 chars, e.g. "FACP") from the RSDP's XSDT or RSDT, checksum
 * verified; NULL when absent. The RSDP is the boot protocol's, else found in the BIOS areas. */
const void *kit_acpi_table(const char *sig);

/* TSC frequency from CPUID (0x15, 0x16, 0x40000010); 0 when unknown. */
uint64_t kit_tsc_khz(void);
/* TSC frequency measured against PIT channel 2 (median of five 50 ms counts); 0 when it fails. */
uint64_t kit_pit_calibrate_khz(void);
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

/* ---- PCI (configuration mechanism #1, ports 0xcf8/0xcfc) ---- */
/* The firmware / VMM has already numbered the buses and placed the BARs: the kit never
 * reprograms them, it only follows bridges' secondary bus numbers and enables decoding. */
#define KIT_PCI_MAX_DEVS 64
struct kit_pci_dev {
    uint8_t bus, dev, fn;
    uint8_t header_type;  /* bits 0-6: 0 endpoint, 1 PCI-PCI bridge */
    uint16_t vendor, device;
    uint8_t class_code, subclass, prog_if, revision;
};
uint32_t kit_pci_read32(const struct kit_pci_dev *d, uint16_t off);
uint16_t kit_pci_read16(const struct kit_pci_dev *d, uint16_t off);
uint8_t kit_pci_read8(const struct kit_pci_dev *d, uint16_t off);
void kit_pci_write32(const struct kit_pci_dev *d, uint16_t off, uint32_t v);
void kit_pci_write16(const struct kit_pci_dev *d, uint16_t off, uint16_t v);
/* All functions on bus 0 and on the buses behind PCI-PCI bridges (depth first); returns how
 * many were found (only the first max are stored). */
unsigned kit_pci_enumerate(struct kit_pci_dev *out, unsigned max);
/* Address of BAR bar (0-5; a 64-bit BAR spans bar and bar+1); 0 when unassigned.  *is_io (may be
 * NULL) tells an I/O BAR. */
uint64_t kit_pci_bar(const struct kit_pci_dev *d, unsigned bar, bool *is_io);
/* Config offset of the first capability with id cap_id after offset `after` (0 = from the
 * start of the list); 0 when there is none. */
uint8_t kit_pci_find_cap(const struct kit_pci_dev *d, uint8_t cap_id, uint8_t after);
/* Sets memory decoding and bus mastering (and disables INTx). */
void kit_pci_enable(const struct kit_pci_dev *d);

/* ---- virtio 1.x over PCI (modern only), polled split virtqueues ---- */
#define KIT_VIRTIO_VENDOR       0x1af4
#define KIT_VIRTIO_F_EVENT_IDX  29
#define KIT_VIRTIO_F_VERSION_1  32
#define KIT_VIRTIO_NO_VECTOR    0xffff

struct kit_vring_desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
#define KIT_VRING_DESC_F_NEXT  1
#define KIT_VRING_DESC_F_WRITE 2

struct kit_virtq {
    uint16_t index, size;
    struct kit_vring_desc *desc;
    volatile uint16_t *avail;    /* flags, idx, ring[size], used_event */
    volatile uint32_t *used;     /* flags|idx, then {id, len} pairs, then avail_event */
    volatile uint16_t *notify;   /* this queue's doorbell */
    uint16_t avail_idx;          /* next avail index (driver's shadow) */
    uint16_t kicked_idx;         /* avail idx at the last kick */
    uint16_t last_used;          /* next used index to consume */
    uint16_t free_head, num_free;
    bool event_idx;
    uint64_t kicks, notifies;    /* kicks asked for, doorbell writes done */
};

struct kit_virtio_dev {
    struct kit_pci_dev pci;
    uint16_t device_id;          /* virtio device type (2 = block) */
    volatile uint8_t *common, *isr, *device_cfg;
    uint64_t notify_base;
    uint32_t notify_mult;
    uint64_t features;           /* negotiated */
    uint16_t num_queues;         /* from the common config */
};

/* The index-th (0-based) virtio PCI function of virtio device type `type`, capabilities mapped,
 * memory decoding and bus mastering on.  False when there is none or its capabilities are bad
 * (a message is printed then). */
bool kit_virtio_find(uint16_t type, unsigned index, struct kit_virtio_dev *v);
/* Reset, ACKNOWLEDGE, DRIVER, features = offered & (wanted | VERSION_1), FEATURES_OK.  Fails
 * (printing why) when VERSION_1 or any of `required` is not offered, or FEATURES_OK does not stick. */
bool kit_virtio_negotiate(struct kit_virtio_dev *v, uint64_t wanted, uint64_t required);
/* Sets up queue qidx with at most max_size entries (rings from kit_alloc_page), MSI-X vector
 * NO_VECTOR, enabled.  Call between kit_virtio_negotiate and kit_virtio_driver_ok. */
bool kit_virtio_setup_queue(struct kit_virtio_dev *v, uint16_t qidx, uint16_t max_size, struct kit_virtq *q);
void kit_virtio_driver_ok(struct kit_virtio_dev *v);
uint8_t kit_virtio_status(struct kit_virtio_dev *v);
void kit_virtio_reset(struct kit_virtio_dev *v);

/* Hot path, CPL3-safe (plain memory and MMIO accesses, no printing). */
struct kit_vbuf { uint64_t addr; uint32_t len; bool device_writes; };
/* Adds a descriptor chain; returns its head id, or -1 when too few descriptors are free.
 * The chain becomes visible to the device at the next kit_virtq_kick. */
int kit_virtq_add(struct kit_virtq *q, const struct kit_vbuf *bufs, unsigned n);
/* Publishes the added chains and rings the doorbell (unless EVENT_IDX says the device
 * does not need it). */
void kit_virtq_kick(struct kit_virtq *q);
/* Takes one used element: true with its head id and written length, false when none is ready.
 * The chain's descriptors are freed. */
bool kit_virtq_poll(struct kit_virtq *q, uint16_t *head, uint32_t *len);

/* ---- virtio-blk on top of the above ---- */
#define KIT_VBLK_MAX_QUEUES 16
#define KIT_VBLK_T_IN           0
#define KIT_VBLK_T_OUT          1
#define KIT_VBLK_T_FLUSH        4
#define KIT_VBLK_T_GET_ID       8
#define KIT_VBLK_T_DISCARD      11
#define KIT_VBLK_T_WRITE_ZEROES 13
#define KIT_VBLK_S_OK     0
#define KIT_VBLK_S_IOERR  1
#define KIT_VBLK_S_UNSUPP 2
#define KIT_VBLK_F_SIZE_MAX     1
#define KIT_VBLK_F_SEG_MAX      2
#define KIT_VBLK_F_RO           5
#define KIT_VBLK_F_BLK_SIZE     6
#define KIT_VBLK_F_FLUSH        9
#define KIT_VBLK_F_MQ           12
#define KIT_VBLK_F_DISCARD      13
#define KIT_VBLK_F_WRITE_ZEROES 14

/* One in-flight request's device-visible header and status, indexed by descriptor head. */
struct kit_vblk_slot {
    uint32_t type, reserved;
    uint64_t sector;
    volatile uint8_t status;
    uint8_t pad[7];
    uint64_t seg[2];             /* discard / write-zeroes segment: sector, num_sectors|flags<<32 */
    uint64_t tag;                /* caller's cookie */
};

struct kit_vblk_queue {
    struct kit_virtq vq;
    struct kit_vblk_slot *slots; /* vq.size entries */
    uint32_t inflight;
    uint32_t max_seg;            /* largest data segment per descriptor */
};

struct kit_vblk {
    struct kit_virtio_dev v;
    uint64_t capacity;           /* 512-byte sectors */
    uint32_t blk_size, size_max, seg_max;
    uint32_t max_discard_sectors, max_discard_seg, discard_align;
    uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
    uint8_t write_zeroes_may_unmap;
    uint16_t nqueues;            /* queues set up */
    struct kit_vblk_queue q[KIT_VBLK_MAX_QUEUES];
};

/* Finds the index-th virtio-blk function and brings it up with min(queues, device's) queues
 * of at most qsize entries.  event_idx: negotiate EVENT_IDX when offered. */
bool kit_vblk_init(struct kit_vblk *b, unsigned index, unsigned queues, uint16_t qsize, bool event_idx);
bool kit_vblk_has(const struct kit_vblk *b, unsigned feature);
/* Queues a request (no kick): type, sector, data buffer (buf/len, may be 0), tag returned on
 * completion.  DISCARD/WRITE_ZEROES: buf/len ignored, `sectors` long from sector, flags (bit 0 unmap).
 * Returns false when the ring is full. CPL3-safe. */
bool kit_vblk_submit(struct kit_vblk_queue *q, uint32_t type, uint64_t sector, void *buf, uint32_t len,
                     uint64_t tag);
bool kit_vblk_submit_range(struct kit_vblk_queue *q, uint32_t type, uint64_t sector, uint32_t sectors,
                           uint32_t flags, uint64_t tag);
static inline void kit_vblk_kick(struct kit_vblk_queue *q) { kit_virtq_kick(&q->vq); }
/* One completion, if any: its tag and status. CPL3-safe. */
bool kit_vblk_poll(struct kit_vblk_queue *q, uint64_t *tag, uint8_t *status);
/* Submit, kick and wait (up to timeout_ms) for one request on an idle queue: its status, or -1
 * on a timeout / full ring. CPL3-safe. */
int kit_vblk_sync(struct kit_vblk_queue *q, uint32_t type, uint64_t sector, void *buf, uint32_t len,
                  uint64_t timeout_ms);
int kit_vblk_sync_range(struct kit_vblk_queue *q, uint32_t type, uint64_t sector, uint32_t sectors,
                        uint32_t flags, uint64_t timeout_ms);

/* ==== virtio-net (rt/virtio_net.c) ================================================== */
/* Polled virtio-net: receiveq i = virtqueue 2i, transmitq i = 2i+1, control queue 2*max_pairs
 * with MQ (2 without).  Every buffer is one descriptor of KIT_VNET_BUF bytes holding the 12-byte
 * virtio_net_hdr_v1 and then the frame, so a frame never spans buffers (MRG_RXBUF is negotiated
 * only to check num_buffers == 1).  No offloads: frames go out and come in whole. */
#define KIT_VNET_TYPE            1
#define KIT_VNET_MAX_PAIRS       8
#define KIT_VNET_HDR_LEN         12
#define KIT_VNET_BUF             2048
#define KIT_VNET_F_MTU           3
#define KIT_VNET_F_MAC           5
#define KIT_VNET_F_MRG_RXBUF     15
#define KIT_VNET_F_STATUS        16
#define KIT_VNET_F_CTRL_VQ       17
#define KIT_VNET_F_MQ            22
#define KIT_VNET_CTRL_MQ         4
#define KIT_VNET_CTRL_MQ_VQ_PAIRS_SET 0
#define KIT_VNET_OK              0

struct kit_vnet_hdr {
    uint8_t flags, gso_type;
    uint16_t hdr_len, gso_size, csum_start, csum_offset, num_buffers;
} __attribute__((packed));

struct kit_vnet_queue {
    struct kit_virtq vq;
    uint8_t *bufs;               /* vq.size buffers of KIT_VNET_BUF bytes, buffer i = descriptor i */
    uint64_t frames, bytes;      /* completed (TX) / received (RX) */
    uint64_t bad;                /* RX: malformed completions (short, num_buffers != 1, bad id) */
};

struct kit_vnet {
    struct kit_virtio_dev v;
    uint8_t mac[6];
    uint16_t mtu;                /* 0 when MTU was not offered */
    uint16_t max_pairs;          /* max_virtqueue_pairs (1 without MQ) */
    uint16_t pairs;              /* queue pairs set up and (with MQ) enabled by VQ_PAIRS_SET */
    uint16_t status;             /* config status (bit 0 link up), 1 when STATUS was not offered */
    struct kit_vnet_queue rx[KIT_VNET_MAX_PAIRS], tx[KIT_VNET_MAX_PAIRS];
    struct kit_virtq ctrl;
    bool has_ctrl;
    uint8_t *ctrl_buf;
};

/* Finds the index-th virtio-net function, negotiates (MQ and the control queue when pairs > 1),
 * sets up min(pairs, max_virtqueue_pairs) pairs of at most qsize entries, fills every receiveq,
 * DRIVER_OK, then VQ_PAIRS_SET through the control queue when more than one pair is used. */
bool kit_vnet_init(struct kit_vnet *n, unsigned index, unsigned pairs, uint16_t qsize, bool event_idx);
/* A control command with one data buffer: the ack (KIT_VNET_OK) or -1 on a timeout. */
int kit_vnet_ctrl(struct kit_vnet *n, uint8_t cls, uint8_t cmd, const void *data, uint32_t len);
/* Hot path, CPL3-safe.  TX: the frame area (after the header) of the next free buffer, reclaiming
 * completed ones first; NULL when the ring is full. */
uint8_t *kit_vnet_tx_frame(struct kit_vnet_queue *q);
/* Queues the buffer returned by the last kit_vnet_tx_frame with a frame of len bytes (no kick). */
void kit_vnet_tx_commit(struct kit_vnet_queue *q, uint32_t len);
static inline void kit_vnet_kick(struct kit_vnet_queue *q) { kit_virtq_kick(&q->vq); }
/* Takes completed TX buffers back; returns how many. */
unsigned kit_vnet_tx_reclaim(struct kit_vnet_queue *q);
/* RX: one received frame (pointer into its buffer, length without the header) or NULL; hand the
 * buffer back with kit_vnet_rx_release(q, id) (not kicked: kick the receiveq after a batch). */
uint8_t *kit_vnet_rx_poll(struct kit_vnet_queue *q, uint32_t *len, uint16_t *id);
void kit_vnet_rx_release(struct kit_vnet_queue *q, uint16_t id);
/* ==== end of virtio-net ============================================================== */

/* ==== virtio-scsi (rt/virtio_scsi.c) ======================================================== */
/* One controller, target 0 (or any), LUN per disk; control queue 0, event queue 1, request queues
 * 2..  Polled like the rest.  The request header always carries a 32-byte CDB and the response
 * room for 96 bytes of sense: kit_vscsi_init writes those sizes into the config space. */
#define KIT_VSCSI_TYPE          8
#define KIT_VSCSI_MAX_QUEUES    16   /* request queues */
#define KIT_VSCSI_CDB_SIZE      32
#define KIT_VSCSI_SENSE_SIZE    96
#define KIT_VSCSI_EVENTS        8    /* event buffers kept posted */
/* virtio response codes (virtio 1.x 5.6.6.1) */
#define KIT_VSCSI_S_OK                 0  /* = FUNCTION_COMPLETE for task management */
#define KIT_VSCSI_S_OVERRUN            1
#define KIT_VSCSI_S_ABORTED            2
#define KIT_VSCSI_S_BAD_TARGET         3
#define KIT_VSCSI_S_RESET              4
#define KIT_VSCSI_S_BUSY               5
#define KIT_VSCSI_S_TRANSPORT_FAILURE  6
#define KIT_VSCSI_S_TARGET_FAILURE     7
#define KIT_VSCSI_S_NEXUS_FAILURE      8
#define KIT_VSCSI_S_FAILURE            9
#define KIT_VSCSI_S_FUNCTION_SUCCEEDED 10
#define KIT_VSCSI_S_FUNCTION_REJECTED  11
#define KIT_VSCSI_S_INCORRECT_LUN      12
/* task management functions (control queue, type 0) */
#define KIT_VSCSI_TMF_ABORT_TASK         0
#define KIT_VSCSI_TMF_ABORT_TASK_SET     1
#define KIT_VSCSI_TMF_CLEAR_ACA          2
#define KIT_VSCSI_TMF_CLEAR_TASK_SET     3
#define KIT_VSCSI_TMF_I_T_NEXUS_RESET    4
#define KIT_VSCSI_TMF_LOGICAL_UNIT_RESET 5
#define KIT_VSCSI_TMF_QUERY_TASK         6
#define KIT_VSCSI_TMF_QUERY_TASK_SET     7
/* SCSI status and sense keys */
#define KIT_SCSI_GOOD            0x00
#define KIT_SCSI_CHECK_CONDITION 0x02
#define KIT_SCSI_KEY_NO_SENSE        0x0
#define KIT_SCSI_KEY_NOT_READY       0x2
#define KIT_SCSI_KEY_MEDIUM_ERROR    0x3
#define KIT_SCSI_KEY_ILLEGAL_REQUEST 0x5
#define KIT_SCSI_KEY_UNIT_ATTENTION  0x6
#define KIT_SCSI_KEY_DATA_PROTECT    0x7

struct kit_vscsi_cmd_req {       /* device-readable request header (19 + CDB bytes) */
    uint8_t lun[8];
    uint64_t id;
    uint8_t task_attr, prio, crn;
    uint8_t cdb[KIT_VSCSI_CDB_SIZE];
} __attribute__((packed));

struct kit_vscsi_cmd_resp {      /* device-writable response header (12 + sense bytes) */
    uint32_t sense_len, residual;
    uint16_t status_qualifier;
    uint8_t status, response;
    uint8_t sense[KIT_VSCSI_SENSE_SIZE];
} __attribute__((packed));

/* One in-flight command, indexed by its descriptor head. */
struct kit_vscsi_slot {
    struct kit_vscsi_cmd_req req;
    struct kit_vscsi_cmd_resp resp;
    uint32_t used_len;           /* written by kit_vscsi_poll: response header + data-in bytes */
    uint32_t data_in_len, data_out_len;
    uint64_t tag;                /* caller's cookie */
};

struct kit_vscsi_queue {
    struct kit_virtq vq;
    struct kit_vscsi_slot *slots; /* vq.size entries */
    uint32_t inflight;
};

struct kit_vscsi {
    struct kit_virtio_dev v;
    /* config space (virtio 1.x 5.6.4) as read at init */
    uint32_t num_queues, seg_max, max_sectors, cmd_per_lun, event_info_size, sense_size, cdb_size;
    uint16_t max_channel, max_target;
    uint32_t max_lun;
    struct kit_virtq ctrl, event;
    uint8_t *ctrl_buf;           /* one TMF request + response at a time */
    uint8_t *event_bufs;         /* KIT_VSCSI_EVENTS x 16 bytes */
    uint32_t events_seen;
    uint16_t nqueues;            /* request queues set up */
    struct kit_vscsi_queue q[KIT_VSCSI_MAX_QUEUES];
};

/* A finished command, copied out of its slot. */
struct kit_vscsi_result {
    int response;                /* KIT_VSCSI_S_*, -1 = timeout / ring full */
    uint8_t status;              /* SCSI status */
    uint32_t residual, sense_len;
    uint32_t transferred;        /* data-in or data-out buffer length - residual */
    uint32_t data_in;            /* transferred, for a command with a data-in buffer; else 0 */
    uint32_t used_len;           /* the used ring's length (devices differ: informational) */
    uint8_t key, asc, ascq;      /* decoded sense (0 when none) */
    uint8_t sense[KIT_VSCSI_SENSE_SIZE];
};

/* Finds the index-th virtio-scsi function and brings it up: control and event queues (event
 * buffers posted) plus min(queues, num_queues) request queues of at most qsize entries. */
bool kit_vscsi_init(struct kit_vscsi *s, unsigned index, unsigned queues, uint16_t qsize, bool event_idx);
/* Queues one command (no kick): target/lun, a CDB of up to 32 bytes, a data-out buffer (the device
 * reads it) and/or a data-in buffer (the device writes it), each may be NULL/0; id = tag.
 * False when the ring is full.  CPL3-safe. */
bool kit_vscsi_submit(struct kit_vscsi_queue *q, unsigned target, unsigned lun, const uint8_t *cdb, unsigned cdb_len,
                      const void *out, uint32_t out_len, void *in, uint32_t in_len, uint64_t tag);
static inline void kit_vscsi_kick(struct kit_vscsi_queue *q) { kit_virtq_kick(&q->vq); }
/* One completion: its slot (valid until the next submit on q), or NULL.  CPL3-safe. */
const struct kit_vscsi_slot *kit_vscsi_poll(struct kit_vscsi_queue *q);
/* Submit, kick, wait up to timeout_ms on an idle queue and copy the outcome into *r (response -1 on
 * a timeout or a full ring).  CPL3-safe. */
void kit_vscsi_cmd(struct kit_vscsi_queue *q, unsigned target, unsigned lun, const uint8_t *cdb, unsigned cdb_len,
                   const void *out, uint32_t out_len, void *in, uint32_t in_len, uint64_t timeout_ms,
                   struct kit_vscsi_result *r);
/* Sense key / ASC / ASCQ of fixed (70h/71h) or descriptor (72h/73h) format sense data. */
void kit_scsi_sense_decode(const uint8_t *sense, uint32_t len, uint8_t *key, uint8_t *asc, uint8_t *ascq);
/* A task management function on the control queue: the response byte, -1 on a timeout. */
int kit_vscsi_tmf(struct kit_vscsi *s, uint32_t subtype, unsigned target, unsigned lun, uint64_t tag,
                  uint64_t timeout_ms);
/* Takes the events the device wrote (each buffer is re-posted); returns how many, the last one's
 * event word in *last (may be NULL).  CPL3-safe. */
unsigned kit_vscsi_events(struct kit_vscsi *s, uint32_t *last);
/* ==== end virtio-scsi ======================================================================== */

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
