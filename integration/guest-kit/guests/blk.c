/*
 * blk: exercises a virtio-blk PCI device (modern virtio 1.x, polled, no interrupts).
 *
 * cmdline (see docs/guest-kit.md for the full list):
 *   mode=verify|discard|mq|randread|seqread|seqwrite|rate   (default verify)
 *   qd=N (32)  bs=SIZE  max_mib=N  secs=N  count=N  serial=STR  discard_mib=N  discard_at_mib=N
 *   qsize=N (256)  event_idx=0|1 (1)  cpl=0|3 (3)  timeout_ms=N (10000)  disk=N (0)
 *   report_ms=N (bench modes: an "interval ops= bytes= us=" line every N ms)
 * Hot loops (fill, submit, poll, verify) run at CPL3 unless cpl=0.
 */
#include "kit.h"

#define SECTOR 512u
#define MIB    ((uint64_t)1 << 20)

static struct kit_vblk blk;
static uint64_t tsc_khz;      /* 0 when unknown */
static uint64_t timeout_cycles;
static unsigned use_cpl3;

/* ---- data pattern: a function of (sector, pass, word) ---- */
static inline uint64_t pattern(uint64_t sector, uint64_t pass, unsigned word)
{
    if (word == 0)
        return sector ^ (pass << 48); /* readable in a hex dump */
    return ((sector << 6 | word) * 0x9e3779b97f4a7c15ull) ^ (pass + 1) * 0xc2b2ae3d27d4eb4full;
}

static void fill(uint64_t *buf, uint64_t sector, uint32_t sectors, uint64_t pass)
{
    for (uint32_t s = 0; s < sectors; s++)
        for (unsigned w = 0; w < SECTOR / 8; w++)
            *buf++ = pattern(sector + s, pass, w);
}

struct mismatch { uint64_t sector, word, expected, actual; };

/* want_zero: expect zeroes instead of the pattern. */
static bool check(const uint64_t *buf, uint64_t sector, uint32_t sectors, uint64_t pass, bool want_zero,
                  struct mismatch *m)
{
    for (uint32_t s = 0; s < sectors; s++)
        for (unsigned w = 0; w < SECTOR / 8; w++) {
            uint64_t want = want_zero ? 0 : pattern(sector + s, pass, w), v = *buf++;
            if (v != want) {
                *m = (struct mismatch){ sector + s, w, want, v };
                return false;
            }
        }
    return true;
}

/* ---- a pipelined job on one queue ---- */
enum job_kind { JOB_WRITE, JOB_READ_CHECK, JOB_READ_ZERO, JOB_READ, JOB_WRITE_RAW };

struct job {
    struct kit_vblk_queue *q;
    enum job_kind kind;
    uint64_t start, end;          /* sectors [start, end) */
    uint32_t bs;                  /* bytes per request */
    unsigned qd;
    uint64_t pass;
    bool random;                  /* random aligned offsets instead of a sequential sweep */
    uint64_t max_ops;             /* random/rate: stop after this many submissions (0 = no limit) */
    uint64_t max_cycles;          /* random/rate: stop submitting after this long (0 = no limit) */
    uint64_t report_cycles;       /* print an "interval" line this often (0 = never) */
    uint8_t *bufs;                /* qd * bs */
    uint64_t *secs;               /* per buffer: its first sector */
    uint32_t *lens;               /* per buffer: its byte count */
    /* results */
    uint64_t ops, bytes, cycles;
    int error;                    /* 0 ok, 1 status, 2 mismatch, 3 timeout, 4 submit failed */
    uint8_t bad_status;
    uint64_t bad_sector;
    struct mismatch mm;
};

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Picks the next request's range; false when the job has nothing more to submit. */
static bool next_range(struct job *j, uint64_t *next, uint64_t submitted, uint64_t t0, uint64_t *sector,
                       uint32_t *len)
{
    if (j->random) {
        if (j->max_ops && submitted >= j->max_ops)
            return false;
        if (j->max_cycles && rdtsc() - t0 >= j->max_cycles)
            return false;
        uint64_t span = (j->end - j->start) / (j->bs / SECTOR);
        *sector = j->start + (span ? rng() % span : 0) * (j->bs / SECTOR);
        *len = j->bs;
        return true;
    }
    if (*next >= j->end) {
        if (!j->max_cycles && !j->max_ops)
            return false;
        if ((j->max_ops && submitted >= j->max_ops) || (j->max_cycles && rdtsc() - t0 >= j->max_cycles))
            return false;
        *next = j->start; /* timed sequential runs wrap around */
    }
    if (j->max_ops && submitted >= j->max_ops)
        return false;
    if (j->max_cycles && rdtsc() - t0 >= j->max_cycles)
        return false;
    uint64_t n = j->end - *next;
    if (n > j->bs / SECTOR)
        n = j->bs / SECTOR;
    *sector = *next;
    *len = (uint32_t)(n * SECTOR);
    *next += n;
    return true;
}

static bool submit_one(struct job *j, unsigned b, uint64_t sector, uint32_t len)
{
    uint8_t *buf = j->bufs + (uint64_t)b * j->bs;
    j->secs[b] = sector;
    j->lens[b] = len;
    if (j->kind == JOB_WRITE)
        fill((uint64_t *)buf, sector, len / SECTOR, j->pass);
    uint32_t type = (j->kind == JOB_WRITE || j->kind == JOB_WRITE_RAW) ? KIT_VBLK_T_OUT : KIT_VBLK_T_IN;
    return kit_vblk_submit(j->q, type, sector, buf, len, b);
}

static uint64_t run_job(uint64_t arg)
{
    struct job *j = (struct job *)arg;
    uint64_t t0 = rdtsc(), next = j->start, submitted = 0, last_progress = t0;
    uint64_t last_report = t0, report_ops = 0, report_bytes = 0;
    unsigned inflight = 0;
    bool stop = false;
    j->ops = j->bytes = 0;
    j->error = 0;
    for (unsigned b = 0; b < j->qd; b++) {
        uint64_t sector;
        uint32_t len;
        if (!next_range(j, &next, submitted, t0, &sector, &len))
            break;
        if (!submit_one(j, b, sector, len)) {
            j->error = 4;
            stop = true;
            break;
        }
        submitted++;
        inflight++;
    }
    kit_vblk_kick(j->q);
    while (inflight) {
        uint64_t tag;
        uint8_t st;
        bool progress = false;
        while (kit_vblk_poll(j->q, &tag, &st)) {
            progress = true;
            inflight--;
            unsigned b = (unsigned)tag;
            if (st != KIT_VBLK_S_OK) {
                if (!j->error) {
                    j->error = 1;
                    j->bad_status = st;
                    j->bad_sector = j->secs[b];
                }
                stop = true;
                continue;
            }
            j->ops++;
            j->bytes += j->lens[b];
            if ((j->kind == JOB_READ_CHECK || j->kind == JOB_READ_ZERO) && !j->error &&
                !check((const uint64_t *)(j->bufs + (uint64_t)b * j->bs), j->secs[b], j->lens[b] / SECTOR,
                       j->pass, j->kind == JOB_READ_ZERO, &j->mm)) {
                j->error = 2;
                stop = true;
            }
            uint64_t sector;
            uint32_t len;
            if (!stop && next_range(j, &next, submitted, t0, &sector, &len)) {
                if (!submit_one(j, b, sector, len)) {
                    j->error = 4;
                    stop = true;
                } else {
                    submitted++;
                    inflight++;
                }
            }
        }
        uint64_t now = rdtsc();
        if (j->report_cycles && now - last_report >= j->report_cycles) {
            /* Progress for a watcher (e.g. a limit changed mid-run): ops and bytes since the last line. */
            uint64_t us = tsc_khz ? (now - last_report) * 1000 / tsc_khz : 0;
            kit_printf("blk: interval ops=%lu bytes=%lu us=%lu\n", j->ops - report_ops, j->bytes - report_bytes, us);
            last_report = now;
            report_ops = j->ops;
            report_bytes = j->bytes;
        }
        if (progress) {
            kit_vblk_kick(j->q);
            last_progress = now;
        } else if (now - last_progress > timeout_cycles) {
            if (!j->error)
                j->error = 3;
            break;
        } else {
            cpu_relax();
        }
    }
    j->cycles = rdtsc() - t0;
    return (uint64_t)j->error;
}

static uint64_t run(uint64_t (*fn)(uint64_t), void *arg)
{
    return use_cpl3 ? kit_run_user(fn, (uint64_t)arg) : fn((uint64_t)arg);
}

static void job_init(struct job *j, struct kit_vblk_queue *q, enum job_kind kind, uint64_t start, uint64_t end,
                     uint32_t bs, unsigned qd, uint8_t *bufs, uint64_t *secs, uint32_t *lens)
{
    memset(j, 0, sizeof(*j));
    j->q = q;
    j->kind = kind;
    j->start = start;
    j->end = end;
    j->bs = bs;
    j->qd = qd;
    j->bufs = bufs;
    j->secs = secs;
    j->lens = lens;
}

static int report_job_error(const char *what, struct job *j)
{
    switch (j->error) {
    case 1:
        kit_printf("blk: FAIL: %s: status %u at sector %lu\n", what, j->bad_status, j->bad_sector);
        break;
    case 2:
        kit_printf("blk: FAIL: %s: MISMATCH at sector %lu word %lu: expected 0x%016lx, read 0x%016lx\n", what,
                   j->mm.sector, j->mm.word, j->mm.expected, j->mm.actual);
        break;
    case 3:
        kit_printf("blk: FAIL: %s: timeout on queue %u (%u in flight, avail idx %u, used idx %u, %lu done)\n", what,
                   j->q->vq.index, j->q->inflight, j->q->vq.avail_idx, ((volatile uint16_t *)j->q->vq.used)[1],
                   j->ops);
        break;
    case 4:
        kit_printf("blk: FAIL: %s: could not queue a request (ring too small for qd/bs)\n", what);
        break;
    default:
        return KIT_EXIT_OK;
    }
    return KIT_EXIT_FAIL;
}


/* ---- device-level helpers ---- */
static struct kit_vblk_queue *q0(void) { return &blk.q[0]; }

static uint64_t tms(void) { return kit_cmdline_u64("timeout_ms", 10000); }

static bool flush(struct kit_vblk_queue *q)
{
    if (!kit_vblk_has(&blk, KIT_VBLK_F_FLUSH))
        return true;
    int st = kit_vblk_sync(q, KIT_VBLK_T_FLUSH, 0, NULL, 0, tms());
    if (st != KIT_VBLK_S_OK) {
        kit_printf("blk: FAIL: flush on queue %u: %s %d\n", q->vq.index, st < 0 ? "timeout" : "status", st);
        return false;
    }
    return true;
}

static bool check_serial(void)
{
    char want[64];
    if (!kit_cmdline_str("serial", want, sizeof(want)))
        return true;
    uint8_t *id = kit_alloc_raw(4096, 4096);
    memset(id, 0, 32);
    int st = kit_vblk_sync(q0(), KIT_VBLK_T_GET_ID, 0, id, 20, tms());
    if (st != KIT_VBLK_S_OK) {
        kit_printf("blk: FAIL: GET_ID: %s %d\n", st < 0 ? "timeout" : "status", st);
        return false;
    }
    char got[21];
    memcpy(got, id, 20);
    got[20] = 0;
    size_t wl = strlen(want) > 20 ? 20 : strlen(want);
    if (strlen(got) != wl || memcmp(got, want, wl) != 0) {
        kit_printf("blk: FAIL: GET_ID returned \"%s\", expected \"%s\"\n", got, want);
        return false;
    }
    kit_printf("blk: serial \"%s\" ok\n", got);
    return true;
}

struct io_bufs { uint8_t *bufs; uint64_t *secs; uint32_t *lens; };

static struct io_bufs alloc_bufs(unsigned qd, uint32_t bs)
{
    struct io_bufs b;
    b.bufs = kit_alloc_raw((uint64_t)qd * bs, 4096);
    b.secs = kit_alloc_raw(qd * sizeof(uint64_t), 4096);
    b.lens = kit_alloc_raw(qd * sizeof(uint32_t), 4096);
    return b;
}

static void print_rate(const char *mode, struct job *j)
{
    kit_printf("blk: %s bs=%u qd=%u ops=%lu bytes=%lu cycles=%lu", mode, j->bs, j->qd, j->ops, j->bytes, j->cycles);
    if (tsc_khz && j->cycles) {
        uint64_t us = j->cycles * 1000 / tsc_khz;
        uint64_t iops = us ? j->ops * 1000000 / us : 0;
        uint64_t kib_s = us ? j->bytes / 1024 * 1000000 / us : 0;
        kit_printf(" us=%lu iops=%lu mib_s=%lu.%02lu", us, iops, kib_s / 1024, (kib_s % 1024) * 100 / 1024);
    }
    kit_printf(" notifies=%lu\n", j->q->vq.notifies);
}

/* ---- modes ---- */
static int mode_verify(unsigned qd, uint32_t bs, uint64_t end)
{
    if (!check_serial())
        return KIT_EXIT_FAIL;
    struct io_bufs b = alloc_bufs(qd, bs);
    struct job j;
    uint64_t passes = kit_cmdline_u64("passes", 1);
    for (uint64_t pass = 0; pass < passes; pass++) {
        job_init(&j, q0(), JOB_WRITE, 0, end, bs, qd, b.bufs, b.secs, b.lens);
        j.pass = pass;
        run(run_job, &j);
        if (report_job_error("write", &j))
            return KIT_EXIT_FAIL;
        uint64_t wc = j.cycles;
        if (!flush(q0()))
            return KIT_EXIT_FAIL;
        job_init(&j, q0(), JOB_READ_CHECK, 0, end, bs, qd, b.bufs, b.secs, b.lens);
        j.pass = pass;
        run(run_job, &j);
        if (report_job_error("read", &j))
            return KIT_EXIT_FAIL;
        kit_printf("blk: pass %lu: wrote and verified %lu sectors (write %lu Mcycles, read %lu Mcycles)\n", pass + 1,
                   end, wc / 1000000, j.cycles / 1000000);
    }
    kit_printf("blk: verify ok %lu MiB\n", end * SECTOR / MIB);
    return KIT_EXIT_OK;
}

static int mode_discard(unsigned qd, uint64_t cap)
{
    if (!kit_vblk_has(&blk, KIT_VBLK_F_DISCARD)) {
        kit_printf("blk: FAIL: the device does not offer DISCARD\n");
        return KIT_EXIT_FAIL;
    }
    uint64_t at = kit_cmdline_u64("discard_at_mib", 0) * MIB / SECTOR;
    uint64_t len = kit_cmdline_u64("discard_mib", 16) * MIB / SECTOR;
    if (len == 0 || at >= cap || len > cap - at) {
        kit_printf("blk: FAIL: discard range %lu+%lu sectors outside the disk (%lu sectors)\n", at, len, cap);
        return KIT_EXIT_FAIL;
    }
    uint64_t tail_end = at + len + MIB / SECTOR < cap ? at + len + MIB / SECTOR : cap;
    uint32_t bs = 64 * 1024;
    struct io_bufs b = alloc_bufs(qd, bs);
    struct job j;
    /* 1. allocate the range (and 1 MiB after it) with data */
    job_init(&j, q0(), JOB_WRITE, at, tail_end, bs, qd, b.bufs, b.secs, b.lens);
    j.pass = 7;
    run(run_job, &j);
    if (report_job_error("write", &j) || !flush(q0()))
        return KIT_EXIT_FAIL;
    /* 2. discard it, in pieces the device accepts */
    uint64_t maxs = blk.max_discard_sectors ? blk.max_discard_sectors : 0x7fffffffu;
    if (maxs > (1u << 30))
        maxs = 1u << 30;
    for (uint64_t s = at; s < at + len;) {
        uint64_t n = at + len - s < maxs ? at + len - s : maxs;
        int st = kit_vblk_sync_range(q0(), KIT_VBLK_T_DISCARD, s, (uint32_t)n, 0, tms());
        if (st != KIT_VBLK_S_OK) {
            kit_printf("blk: FAIL: discard %lu+%lu: %s %d\n", s, n, st < 0 ? "timeout" : "status", st);
            return KIT_EXIT_FAIL;
        }
        s += n;
    }
    if (!flush(q0()))
        return KIT_EXIT_FAIL;
    kit_printf("blk: discarded %lu MiB at %lu MiB (sectors %lu-%lu, max_discard_sectors %u, align %u)\n",
               len * SECTOR / MIB, at * SECTOR / MIB, at, at + len - 1, blk.max_discard_sectors, blk.discard_align);
    /* 3. discard does not promise zeroes; write-zeroes (with unmap when allowed) does */
    const char *zero_note = "no write-zeroes, contents not checked";
    if (kit_vblk_has(&blk, KIT_VBLK_F_WRITE_ZEROES)) {
        uint64_t maxz = blk.max_write_zeroes_sectors ? blk.max_write_zeroes_sectors : 0x7fffffffu;
        if (maxz > (1u << 30))
            maxz = 1u << 30;
        uint32_t flags = blk.write_zeroes_may_unmap ? 1 : 0;
        for (uint64_t s = at; s < at + len;) {
            uint64_t n = at + len - s < maxz ? at + len - s : maxz;
            int st = kit_vblk_sync_range(q0(), KIT_VBLK_T_WRITE_ZEROES, s, (uint32_t)n, flags, tms());
            if (st != KIT_VBLK_S_OK) {
                kit_printf("blk: FAIL: write-zeroes %lu+%lu: %s %d\n", s, n, st < 0 ? "timeout" : "status", st);
                return KIT_EXIT_FAIL;
            }
            s += n;
        }
        if (!flush(q0()))
            return KIT_EXIT_FAIL;
        job_init(&j, q0(), JOB_READ_ZERO, at, at + len, bs, qd, b.bufs, b.secs, b.lens);
        run(run_job, &j);
        if (report_job_error("read zeroes", &j))
            return KIT_EXIT_FAIL;
        zero_note = flags ? "write-zeroes (unmap) read back as zeroes" : "write-zeroes read back as zeroes";
    }
    /* 4. the data after the range is untouched */
    if (tail_end > at + len) {
        job_init(&j, q0(), JOB_READ_CHECK, at + len, tail_end, bs, qd, b.bufs, b.secs, b.lens);
        j.pass = 7;
        run(run_job, &j);
        if (report_job_error("read after the range", &j))
            return KIT_EXIT_FAIL;
    }
    kit_printf("blk: discard ok %lu MiB at %lu MiB, %s\n", len * SECTOR / MIB, at * SECTOR / MIB, zero_note);
    return KIT_EXIT_OK;
}

/* ---- mq: one queue per vCPU ---- */
static struct job mq_jobs[KIT_VBLK_MAX_QUEUES][2];
static volatile uint32_t mq_done[KIT_VBLK_MAX_QUEUES];
static volatile uint32_t mq_cpu_of_apic[256];

static void mq_work(unsigned i)
{
    run_job((uint64_t)&mq_jobs[i][0]);
    if (!mq_jobs[i][0].error && kit_vblk_sync(mq_jobs[i][0].q, KIT_VBLK_T_FLUSH, 0, NULL, 0, 10000) < 0)
        mq_jobs[i][0].error = 3;
    if (!mq_jobs[i][0].error)
        run_job((uint64_t)&mq_jobs[i][1]);
}

static void mq_ap(uint32_t apic_id)
{
    unsigned i = mq_cpu_of_apic[apic_id & 0xff];
    mq_work(i);
    __atomic_store_n(&mq_done[i], 1, __ATOMIC_SEQ_CST);
    for (;;)
        __asm__ volatile("cli; hlt");
}

static uint64_t mq_bsp_user(uint64_t arg)
{
    mq_work((unsigned)arg);
    return 0;
}

static int mode_mq(unsigned qd, uint32_t bs, uint64_t end)
{
    struct kit_cpus cpus;
    kit_find_cpus(&cpus);
    unsigned n = blk.nqueues < cpus.count ? blk.nqueues : cpus.count;
    kit_printf("blk: mq: %u CPUs (%s), %u queues set up, using %u\n", cpus.count, cpus.source, blk.nqueues, n);
    if (n < 2) {
        kit_printf("blk: FAIL: mq needs at least 2 CPUs and 2 queues\n");
        return KIT_EXIT_FAIL;
    }
    uint64_t per = (end / n) & ~(uint64_t)(bs / SECTOR - 1);
    if (per == 0) {
        kit_printf("blk: FAIL: disk too small for %u regions of %u bytes\n", n, bs);
        return KIT_EXIT_FAIL;
    }
    uint32_t bsp = kit_lapic_id();
    unsigned idx = 1;
    for (unsigned c = 0; c < cpus.count && c < KIT_MAX_CPUS; c++) {
        uint32_t id = cpus.apic_ids[c];
        if (id == bsp || id > 0xff)
            continue;
        if (idx < n)
            mq_cpu_of_apic[id] = idx++;
    }
    for (unsigned i = 0; i < n; i++) {
        struct io_bufs b = alloc_bufs(qd, bs);
        job_init(&mq_jobs[i][0], &blk.q[i], JOB_WRITE, i * per, (i + 1) * per, bs, qd, b.bufs, b.secs, b.lens);
        job_init(&mq_jobs[i][1], &blk.q[i], JOB_READ_CHECK, i * per, (i + 1) * per, bs, qd, b.bufs, b.secs, b.lens);
        mq_jobs[i][0].pass = mq_jobs[i][1].pass = 3;
    }
    kit_smp_prepare();
    unsigned started = 1;
    for (unsigned c = 0; c < cpus.count && started < n; c++) {
        uint32_t id = cpus.apic_ids[c];
        if (id == bsp || id > 0xff)
            continue;
        uint8_t *stack = kit_alloc_raw(16384, 4096);
        if (!kit_start_ap(id, stack + 16384, mq_ap, 5000000)) {
            kit_printf("blk: FAIL: APIC id %u did not start\n", id);
            return KIT_EXIT_SMP_TIMEOUT;
        }
        started++;
    }
    run(mq_bsp_user, (void *)0);
    uint64_t khz = tsc_khz ? tsc_khz : 3000000, t0 = rdtsc();
    for (unsigned i = 1; i < n; i++)
        while (!__atomic_load_n(&mq_done[i], __ATOMIC_SEQ_CST)) {
            if (rdtsc() - t0 > 120000 * khz) {
                kit_printf("blk: FAIL: CPU for queue %u did not finish\n", i);
                return KIT_EXIT_FAIL;
            }
            cpu_relax();
        }
    for (unsigned i = 0; i < n; i++) {
        for (int k = 0; k < 2; k++) {
            char what[48];
            kit_snprintf(what, sizeof(what), "queue %u %s", i, k ? "read" : "write");
            if (report_job_error(what, &mq_jobs[i][k]))
                return KIT_EXIT_FAIL;
        }
        kit_printf("blk: mq: queue %u: sectors %lu-%lu written and verified, %lu notifies\n", i, i * per,
                   (i + 1) * per - 1, blk.q[i].vq.notifies);
    }
    /* The BSP re-reads everything through queue 0. */
    struct job j;
    struct io_bufs b = alloc_bufs(qd, bs);
    job_init(&j, q0(), JOB_READ_CHECK, 0, n * per, bs, qd, b.bufs, b.secs, b.lens);
    j.pass = 3;
    run(run_job, &j);
    if (report_job_error("BSP re-read", &j))
        return KIT_EXIT_FAIL;
    kit_printf("blk: mq ok %u queues %lu MiB\n", n, n * per * SECTOR / MIB);
    return KIT_EXIT_OK;
}

static int mode_bench(const char *mode, unsigned qd, uint32_t bs, uint64_t end)
{
    bool rnd = !strcmp(mode, "randread"), write = !strcmp(mode, "seqwrite"), rate = !strcmp(mode, "rate");
    struct io_bufs b = alloc_bufs(qd, bs);
    struct job j;
    job_init(&j, q0(), write ? JOB_WRITE_RAW : JOB_READ, 0, end - end % (bs / SECTOR), bs, qd, b.bufs, b.secs, b.lens);
    if (j.end == 0) {
        kit_printf("blk: FAIL: disk smaller than bs\n");
        return KIT_EXIT_FAIL;
    }
    j.random = rnd || rate;
    uint64_t secs = kit_cmdline_u64("secs", rate ? 5 : 0), count = kit_cmdline_u64("count", 0);
    if (!secs && !count && (rnd || rate))
        count = 100000;
    j.max_ops = count;
    j.max_cycles = secs * (tsc_khz ? tsc_khz : 3000000) * 1000;
    j.report_cycles = kit_cmdline_u64("report_ms", 0) * (tsc_khz ? tsc_khz : 3000000);
    if (write)
        memset(b.bufs, 0x5a, 4096); /* content does not matter; avoid all-zero pages */
    uint64_t warmup = kit_cmdline_u64("warmup", 0);
    if (warmup) { /* e.g. to drain a throttle's burst allowance before measuring */
        struct job w = j;
        w.max_ops = 0;
        w.max_cycles = warmup * (tsc_khz ? tsc_khz : 3000000) * 1000;
        run(run_job, &w);
        if (report_job_error("warm-up", &w))
            return KIT_EXIT_FAIL;
    }
    uint64_t notifies0 = j.q->vq.notifies;
    run(run_job, &j);
    j.q->vq.notifies -= notifies0;
    if (report_job_error(mode, &j))
        return KIT_EXIT_FAIL;
    print_rate(mode, &j);
    kit_printf("blk: %s ok\n", mode);
    return KIT_EXIT_OK;
}

int main(void)
{
    char mode[16] = "verify";
    kit_cmdline_str("mode", mode, sizeof(mode));
    bool bench = !strcmp(mode, "randread") || !strcmp(mode, "seqread") || !strcmp(mode, "seqwrite") ||
                 !strcmp(mode, "rate");
    if (strcmp(mode, "verify") && strcmp(mode, "discard") && strcmp(mode, "mq") && !bench) {
        kit_printf("blk: FAIL: unknown mode '%s'\n", mode);
        return KIT_EXIT_FAIL;
    }
    unsigned qd = (unsigned)kit_cmdline_u64("qd", 32);
    uint64_t bs = kit_cmdline_u64("bs", !strcmp(mode, "randread") || !strcmp(mode, "rate") ? 4096
                                        : bench ? MIB : 64 * 1024);
    uint64_t qsize = kit_cmdline_u64("qsize", 256);
    use_cpl3 = kit_cmdline_u64("cpl", 3) == 3;
    if (qd == 0 || qd > 256 || bs == 0 || bs % SECTOR || bs > 4 * MIB || qsize < 4 || qsize > 256) {
        kit_printf("blk: FAIL: need 1 <= qd <= 256, bs a multiple of 512 up to 4 MiB, 4 <= qsize <= 256\n");
        return KIT_EXIT_FAIL;
    }
    tsc_khz = kit_tsc_khz();
    const char *tsc_src = "cpuid";
    if (!tsc_khz) {
        tsc_khz = kit_pit_calibrate_khz();
        tsc_src = tsc_khz ? "pit" : "unknown";
    }
    timeout_cycles = tms() * (tsc_khz ? tsc_khz : 3000000);

    unsigned want_q = !strcmp(mode, "mq") ? KIT_VBLK_MAX_QUEUES : 1;
    if (!kit_vblk_init(&blk, (unsigned)kit_cmdline_u64("disk", 0), want_q, (uint16_t)qsize,
                       kit_cmdline_u64("event_idx", 1) != 0))
        return KIT_EXIT_FAIL;
    kit_printf("blk: %02x:%02x.%x capacity %lu sectors (%lu MiB), blk_size %u, features 0x%lx, %u/%u queues, "
               "queue size %u, tsc %lu kHz (%s)\n",
               blk.v.pci.bus, blk.v.pci.dev, blk.v.pci.fn, blk.capacity, blk.capacity * SECTOR / MIB, blk.blk_size,
               blk.v.features, blk.nqueues, blk.v.num_queues, blk.q[0].vq.size, tsc_khz, tsc_src);
    /* A request needs 2 descriptors plus one per data segment: keep qd within the ring. */
    uint32_t seg = blk.q[0].max_seg ? blk.q[0].max_seg : (uint32_t)bs;
    unsigned per_req = 2 + (unsigned)((bs + seg - 1) / seg);
    if (qd * per_req > blk.q[0].vq.size) {
        unsigned nqd = blk.q[0].vq.size / per_req;
        kit_printf("blk: qd %u needs %u descriptors, ring has %u: using qd %u\n", qd, qd * per_req,
                   blk.q[0].vq.size, nqd);
        qd = nqd;
    }
    uint64_t end = blk.capacity;
    uint64_t max = kit_cmdline_u64("max_mib", 0) * MIB / SECTOR;
    if (max && max < end)
        end = max;
    if (end == 0) {
        kit_printf("blk: FAIL: empty disk\n");
        return KIT_EXIT_FAIL;
    }
    if (!strcmp(mode, "verify"))
        return mode_verify(qd, (uint32_t)bs, end);
    if (!strcmp(mode, "discard"))
        return mode_discard(qd, blk.capacity);
    if (!strcmp(mode, "mq"))
        return mode_mq(qd, (uint32_t)bs, end);
    return mode_bench(mode, qd, (uint32_t)bs, end);
}
