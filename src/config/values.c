/*
 * values.c - the unit-bearing value syntaxes of the configuration:
 * durations ("250ms", "5s", "1m30s") and sizes ("64k", "10m").
 */
#include <ctype.h>
#include <string.h>

#include "config.h"

/* Reads decimal digits at *p into *v. @return 0, or -1 if none or overflow. */
static int read_number(const char **p, uint64_t *v)
{
    const char *s = *p;
    uint64_t n = 0;
    if (!isdigit((unsigned char)*s))
        return -1;
    for (; isdigit((unsigned char)*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (n > (UINT64_MAX - d) / 10)
            return -1;
        n = n * 10 + d;
    }
    *p = s;
    *v = n;
    return 0;
}

static int mul_add(uint64_t *acc, uint64_t n, uint64_t unit)
{
    if (n != 0 && unit > UINT64_MAX / n)
        return -1;
    if (UINT64_MAX - *acc < n * unit)
        return -1;
    *acc += n * unit;
    return 0;
}

int cfg_parse_duration(const char *text, uint64_t *ms)
{
    static const struct {
        const char *suffix;
        uint64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    const char *p = text;
    uint64_t total = 0;

    if (strcmp(text, "0") == 0) {
        *ms = 0;
        return 0;
    }
    if (*p == '\0')
        return -1;
    while (*p != '\0') {
        uint64_t n;
        size_t i;
        if (read_number(&p, &n) < 0)
            return -1;
        /* "ms" before "m": the longer suffix wins. */
        for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t len = strlen(units[i].suffix);
            if (strncmp(p, units[i].suffix, len) == 0) {
                p += len;
                break;
            }
        }
        if (i == sizeof(units) / sizeof(units[0]))
            return -1;
        if (mul_add(&total, n, units[i].ms) < 0)
            return -1;
    }
    *ms = total;
    return 0;
}

int cfg_parse_size(const char *text, uint64_t *bytes)
{
    const char *p = text;
    uint64_t n, unit = 1, total = 0;

    if (read_number(&p, &n) < 0)
        return -1;
    switch (tolower((unsigned char)*p)) {
    case '\0':
        break;
    case 'k':
        unit = 1024;
        p++;
        break;
    case 'm':
        unit = 1024 * 1024;
        p++;
        break;
    case 'g':
        unit = 1024 * 1024 * 1024;
        p++;
        break;
    default:
        return -1;
    }
    if (*p != '\0' || mul_add(&total, n, unit) < 0)
        return -1;
    *bytes = total;
    return 0;
}
