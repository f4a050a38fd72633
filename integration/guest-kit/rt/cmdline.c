/* Command line: space-separated key=value tokens; other tokens (for
 * example the kernel path QEMU prepends for multiboot) are ignored. */
#include "kit.h"

static const char *find_value(const char *key, size_t *len)
{
    size_t klen = strlen(key);
    const char *p = kit_boot.cmdline;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *tok = p;
        while (*p && *p != ' ')
            p++;
        if ((size_t)(p - tok) > klen && strncmp(tok, key, klen) == 0 && tok[klen] == '=') {
            *len = (size_t)(p - tok) - klen - 1;
            return tok + klen + 1;
        }
    }
    return NULL;
}

bool kit_cmdline_str(const char *key, char *buf, size_t size)
{
    size_t len;
    const char *v = find_value(key, &len);
    if (!v || size == 0)
        return false;
    if (len >= size)
        len = size - 1;
    memcpy(buf, v, len);
    buf[len] = '\0';
    return true;
}

uint64_t kit_cmdline_u64(const char *key, uint64_t def)
{
    size_t len;
    const char *v = find_value(key, &len);
    if (!v)
        return def;
    const char *p = v, *end = v + len;
    unsigned base = 10;
    if (end - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    }
    uint64_t val = 0;
    int digits = 0;
    for (; p < end; p++, digits++) {
        unsigned d;
        if (*p >= '0' && *p <= '9')
            d = *p - '0';
        else if (base == 16 && *p >= 'a' && *p <= 'f')
            d = *p - 'a' + 10;
        else if (base == 16 && *p >= 'A' && *p <= 'F')
            d = *p - 'A' + 10;
        else
            break;
        if (val > (UINT64_MAX - d) / base)
            goto bad;
        val = val * base + d;
    }
    if (digits == 0)
        goto bad;
    if (p < end) {
        unsigned shift;
        switch (*p) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        default: goto bad;
        }
        if (p + 1 != end || val > (UINT64_MAX >> shift))
            goto bad;
        val <<= shift;
    }
    return val;
bad:
    kit_printf("kit: bad value for cmdline option %s: '", key);
    kit_write(v, len);
    kit_printf("'\n");
    kit_exit(KIT_EXIT_FAIL);
}
