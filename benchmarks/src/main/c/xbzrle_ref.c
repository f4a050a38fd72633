/*
 * xbzrle_ref: a C implementation of QEMU's XBZRLE page delta format, written for this project from
 * the format description (QEMU docs/xbzrle.txt):
 *
 *   page   = zrun nzrun | zrun nzrun page
 *   zrun   = length            (bytes equal to the old page)
 *   nzrun  = length byte...    (the new bytes)
 *   length = ULEB128
 *
 * Canonical encoding: maximal alternating runs, only the first zrun may be empty, the trailing
 * zrun is left out, an unchanged page encodes to nothing; encoding fails (-1) when the delta would
 * take more than `limit` bytes.
 *
 * It serves two purposes: an independent encoder/decoder that the Java codec must match byte for
 * byte (XbzrleInteropTest), and the native speed reference for the Java/C benchmark ratio
 * (XbzrleVsC). It scans 8 bytes at a time like the Java code, so the ratio compares like with like.
 *
 * Driver (all integers little-endian; x86 only, like the rest of the project):
 *   xbzrle_ref encode IN OUT    IN:  records {u32 page_size, u32 limit, old[page_size], new[page_size]}
 *                               OUT: per record {i32 result, delta[result] if result >= 0}
 *                               Every delta is decoded back and checked (exit 3 on mismatch).
 *   xbzrle_ref decode IN OUT    IN:  records {u32 page_size, u32 delta_len, delta[delta_len], page[page_size]}
 *                               OUT: per record {i32 0 or -1, page[page_size] after decoding}
 *   xbzrle_ref bench IN MIN_MS  IN:  encode records, one page size; prints ns per page for the
 *                               encode loop (each record's limit) and the decode loop (deltas
 *                               made with room to spare), each timed for at least MIN_MS.
 *
 * Build: gcc -O2 -o xbzrle_ref xbzrle_ref.c
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOW_BITS  0x0101010101010101ULL
#define HIGH_BITS 0x8080808080808080ULL

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v)); /* unaligned-safe; one mov on x86 */
    return v;
}

static int uleb128_size(uint32_t v)
{
    int n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *uleb128_put(uint8_t *p, uint32_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* First index in [i, end) where a and b differ, or end. */
static int scan_equal(const uint8_t *a, const uint8_t *b, int i, int end)
{
    for (; i + 8 <= end; i += 8) {
        uint64_t x = load64(a + i) ^ load64(b + i);
        if (x)
            return i + (__builtin_ctzll(x) >> 3);
    }
    while (i < end && a[i] == b[i])
        i++;
    return i;
}

/* First index in [i, end) where a and b are equal, or end. */
static int scan_different(const uint8_t *a, const uint8_t *b, int i, int end)
{
    for (; i + 8 <= end; i += 8) {
        uint64_t x = load64(a + i) ^ load64(b + i);
        uint64_t zero = (x - LOW_BITS) & ~x & HIGH_BITS; /* lowest flag = lowest zero byte */
        if (zero)
            return i + (__builtin_ctzll(zero) >> 3);
    }
    while (i < end && a[i] != b[i])
        i++;
    return i;
}

int xbzrle_ref_encode(const uint8_t *old_page, const uint8_t *new_page, int size, uint8_t *dst, int limit)
{
    int d = 0, i = 0;
    for (;;) {
        int zstart = i;
        i = scan_equal(old_page, new_page, i, size);
        if (i == size)
            return d;
        int zlen = i - zstart;
        int head = uleb128_size((uint32_t)zlen);
        long budget = (long)limit - d - head - 1; /* most data bytes that could still fit */
        if (budget < 1)
            return -1;
        int end = (long)i + budget + 1 < size ? (int)(i + budget + 1) : size;
        int nstart = i;
        i = scan_different(old_page, new_page, i, end);
        int nlen = i - nstart;
        int run = head + uleb128_size((uint32_t)nlen) + nlen;
        if (run > limit - d)
            return -1;
        uint8_t *p = uleb128_put(dst + d, (uint32_t)zlen);
        p = uleb128_put(p, (uint32_t)nlen);
        memcpy(p, new_page + nstart, (size_t)nlen);
        d += run;
    }
}

/* Reads a ULEB128 of at most 5 bytes that fits in an int; returns bytes used or -1. */
static int uleb128_get(const uint8_t *src, int avail, int *value)
{
    uint64_t v = 0;
    for (int n = 0; n < 5 && n < avail; n++) {
        v |= (uint64_t)(src[n] & 0x7f) << (7 * n);
        if (!(src[n] & 0x80)) {
            if (v > 0x7fffffff)
                return -1;
            *value = (int)v;
            return n + 1;
        }
    }
    return -1;
}

/* Applies a delta to the old page in place; 0 on success, -1 if malformed. */
int xbzrle_ref_decode(const uint8_t *src, int len, uint8_t *page, int size)
{
    int s = 0, d = 0;
    while (s < len) {
        int zlen, nlen, used;
        used = uleb128_get(src + s, len - s, &zlen);
        if (used < 0 || (zlen == 0 && s != 0) || zlen > size - d)
            return -1;
        s += used;
        d += zlen;
        if (s == len) /* a zrun must be followed by an nzrun */
            return -1;
        used = uleb128_get(src + s, len - s, &nlen);
        if (used < 0 || nlen == 0)
            return -1;
        s += used;
        if (nlen > len - s || nlen > size - d)
            return -1;
        memcpy(page + d, src + s, (size_t)nlen);
        s += nlen;
        d += nlen;
    }
    return 0;
}

/* ---- driver --------------------------------------------------------------------------------- */

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static int read_u32(FILE *f, uint32_t *v)
{
    uint8_t b[4];
    size_t got = fread(b, 1, 4, f);
    if (got == 0 && feof(f))
        return 0;
    if (got != 4)
        die("truncated input");
    *v = b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
    return 1;
}

static void read_exact(FILE *f, void *p, size_t n)
{
    if (n && fread(p, 1, n, f) != n)
        die("truncated input");
}

static void write_i32(FILE *f, int32_t v)
{
    uint32_t u = (uint32_t)v;
    uint8_t b[4] = {u, u >> 8, u >> 16, u >> 24};
    if (fwrite(b, 1, 4, f) != 4)
        die("write");
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("malloc");
    return p;
}

static int cmd_encode(FILE *in, FILE *out)
{
    uint32_t size, limit;
    while (read_u32(in, &size)) {
        if (!read_u32(in, &limit))
            die("truncated input");
        uint8_t *old_page = xmalloc(size), *new_page = xmalloc(size), *dst = xmalloc(limit);
        read_exact(in, old_page, size);
        read_exact(in, new_page, size);
        int n = xbzrle_ref_encode(old_page, new_page, (int)size, dst, (int)limit);
        write_i32(out, n);
        if (n > 0 && fwrite(dst, 1, (size_t)n, out) != (size_t)n)
            die("write");
        if (n >= 0) {
            if (xbzrle_ref_decode(dst, n, old_page, (int)size) != 0 || memcmp(old_page, new_page, size) != 0) {
                fprintf(stderr, "xbzrle_ref: own delta does not decode back\n");
                exit(3);
            }
        }
        free(old_page);
        free(new_page);
        free(dst);
    }
    return 0;
}

static int cmd_decode(FILE *in, FILE *out)
{
    uint32_t size, len;
    while (read_u32(in, &size)) {
        if (!read_u32(in, &len))
            die("truncated input");
        uint8_t *delta = xmalloc(len), *page = xmalloc(size);
        read_exact(in, delta, len);
        read_exact(in, page, size);
        write_i32(out, xbzrle_ref_decode(delta, (int)len, page, (int)size));
        if (size && fwrite(page, 1, size, out) != size)
            die("write");
        free(delta);
        free(page);
    }
    return 0;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmd_bench(FILE *in, double min_ms)
{
    uint32_t size = 0, s, limit;
    int count = 0, cap = 0;
    uint8_t **olds = NULL, **news = NULL, **deltas = NULL, **pages = NULL;
    int *limits = NULL, *lens = NULL;
    while (read_u32(in, &s)) {
        if (!read_u32(in, &limit))
            die("truncated input");
        if (count && s != size) {
            fprintf(stderr, "xbzrle_ref: bench needs one page size\n");
            return 2;
        }
        size = s;
        if (count == cap) {
            cap = cap ? 2 * cap : 64;
            olds = realloc(olds, cap * sizeof(*olds));
            news = realloc(news, cap * sizeof(*news));
            deltas = realloc(deltas, cap * sizeof(*deltas));
            pages = realloc(pages, cap * sizeof(*pages));
            limits = realloc(limits, cap * sizeof(*limits));
            lens = realloc(lens, cap * sizeof(*lens));
            if (!olds || !news || !deltas || !pages || !limits || !lens)
                die("realloc");
        }
        olds[count] = xmalloc(size);
        news[count] = xmalloc(size);
        read_exact(in, olds[count], size);
        read_exact(in, news[count], size);
        limits[count] = (int)limit;
        /* Decode input: the delta made with room to spare, applied to a copy of the old page. */
        deltas[count] = xmalloc(2 * (size_t)size + 16);
        lens[count] = xbzrle_ref_encode(olds[count], news[count], (int)size, deltas[count], 2 * (int)size + 16);
        pages[count] = xmalloc(size);
        memcpy(pages[count], olds[count], size);
        count++;
    }
    if (!count) {
        fprintf(stderr, "xbzrle_ref: no input\n");
        return 2;
    }
    uint8_t *dst = xmalloc(2 * (size_t)size + 16);
    long checksum = 0;

    long rounds = 0;
    double start = now_ns(), elapsed;
    do {
        for (int r = 0; r < count; r++) {
            int n = xbzrle_ref_encode(olds[r], news[r], (int)size, dst, limits[r]);
            checksum += n + (n > 0 ? dst[n - 1] : 0);
        }
        rounds++;
        elapsed = now_ns() - start;
    } while (elapsed < min_ms * 1e6);
    double encode_ns = elapsed / ((double)rounds * count);

    /* Re-applying a delta is idempotent, so every round does the same work on the same pages. */
    rounds = 0;
    start = now_ns();
    do {
        for (int r = 0; r < count; r++) {
            checksum += xbzrle_ref_decode(deltas[r], lens[r], pages[r], (int)size);
            checksum += pages[r][r % size];
        }
        rounds++;
        elapsed = now_ns() - start;
    } while (elapsed < min_ms * 1e6);
    double decode_ns = elapsed / ((double)rounds * count);

    printf("pages %d\npage_size %u\nencode_ns_per_page %.2f\ndecode_ns_per_page %.2f\nchecksum %ld\n",
           count, size, encode_ns, decode_ns, checksum);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s encode IN OUT | decode IN OUT | bench IN MIN_MS\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[2], "rb");
    if (!in)
        die(argv[2]);
    if (!strcmp(argv[1], "bench"))
        return cmd_bench(in, atof(argv[3]));
    FILE *out = fopen(argv[3], "wb");
    if (!out)
        die(argv[3]);
    int rc;
    if (!strcmp(argv[1], "encode"))
        rc = cmd_encode(in, out);
    else if (!strcmp(argv[1], "decode"))
        rc = cmd_decode(in, out);
    else {
        fprintf(stderr, "unknown command %s\n", argv[1]);
        return 2;
    }
    if (fclose(out) != 0)
        die("close");
    return rc;
}
