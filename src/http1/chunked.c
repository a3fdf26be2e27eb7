/*
 * chunked.c - the HTTP/1.x message body decoder (h1_body_*): Content-Length bodies,
 * the chunked transfer coding with extensions and trailers, and read-until-close bodies.
 *
 * Payload is never copied: each call reports where the payload lies in the caller's
 * bytes. Framing is consumed in whole syntactic units (a chunk-size line, the CRLF after
 * the data, the trailer section), so an incomplete unit is simply presented again.
 */
#include <string.h>

#include "h1_int.h"

enum {
    ST_SIZE = 0,  /* expecting a chunk-size line */
    ST_DATA,      /* inside chunk data: remaining bytes left */
    ST_DATA_CRLF, /* expecting the CRLF after chunk data */
    ST_TRAILERS,  /* expecting the trailer section (after the last chunk) */
    ST_DONE,
};

static ssize_t body_fail(struct h1_body *b, uint16_t status, const char *reason)
{
    b->status = status;
    b->reason = reason;
    return H1_ERROR;
}

void h1_body_init(struct h1_body *b, enum h1_body_kind kind, uint64_t content_length,
                  const struct h1_limits *limits, struct h1_header *trailers, uint32_t trailers_cap)
{
    memset(b, 0, sizeof(*b));
    b->limits = limits;
    b->kind = (uint8_t)kind;
    b->trailers = trailers;
    b->trailers_cap = trailers_cap;
    if (kind == H1_BODY_LENGTH)
        b->remaining = content_length;
    if (kind == H1_BODY_NONE || (kind == H1_BODY_LENGTH && content_length == 0)) {
        b->done = true;
        b->state = ST_DONE;
    }
}

static bool over_limit(const struct h1_body *b, uint64_t more)
{
    uint64_t max = b->limits->max_body;
    return max && (more > max || b->total > max - more);
}

/*
 * Skip chunk extensions in s[i, e) (s[e] == '\r'):
 * *( BWS ";" BWS ext-name [ BWS "=" BWS ( token / quoted-string ) ] ). @return 0 or -1.
 */
static int skip_extensions(const unsigned char *s, uint32_t i, uint32_t e)
{
    while (i < e) {
        while (s[i] == ' ' || s[i] == '\t')
            i++;
        if (s[i] != ';')
            return -1;
        i++;
        while (s[i] == ' ' || s[i] == '\t')
            i++;
        uint32_t n = i;
        while (h1_tchar[s[i]])
            i++;
        if (i == n)
            return -1;
        while (s[i] == ' ' || s[i] == '\t')
            i++;
        if (s[i] != '=')
            continue;
        i++;
        while (s[i] == ' ' || s[i] == '\t')
            i++;
        if (s[i] == '"') {
            for (i++;; i++) {
                if (s[i] == '"')
                    break;
                if (s[i] == '\\' && i + 1 < e && h1_vchar[s[i + 1]])
                    i++;
                else if (!h1_vchar[s[i]] || s[i] == '\\')
                    return -1;
            }
            i++;
        } else {
            n = i;
            while (h1_tchar[s[i]])
                i++;
            if (i == n)
                return -1;
        }
    }
    return 0;
}

/* Parse a chunk-size line at buf[0, len). @return bytes consumed, H1_AGAIN or H1_ERROR. */
static ssize_t size_line(struct h1_body *b, const unsigned char *s, size_t len)
{
    size_t max = b->limits->max_chunk_line;
    const unsigned char *lf = memchr(s, '\n', len < max ? len : max);
    if (!lf)
        return len >= max ? body_fail(b, 400, "chunk-size line too long") : H1_AGAIN;
    uint32_t eol = (uint32_t)(lf - s);
    if (eol == 0 || s[eol - 1] != '\r')
        return body_fail(b, 400, "bare LF in chunked framing");
    uint32_t e = eol - 1, i = 0;
    uint64_t size = 0;
    for (;; i++) {
        unsigned c = s[i], d;
        if (c - '0' < 10u)
            d = c - '0';
        else if ((c | 0x20) - 'a' < 6u)
            d = (c | 0x20) - 'a' + 10;
        else
            break;
        if (size > (H1_MAX_LENGTH - d) >> 4)
            return body_fail(b, 400, "chunk size overflow");
        size = size << 4 | d;
    }
    if (i == 0)
        return body_fail(b, 400, "invalid chunk size");
    if (skip_extensions(s, i, e) < 0)
        return body_fail(b, 400, "invalid chunk extension");
    if (over_limit(b, size))
        return body_fail(b, 413, "body too large");
    b->remaining = size;
    b->state = size ? ST_DATA : ST_TRAILERS;
    return eol + 1;
}

/*
 * The trailer section at s[0, len): field lines then an empty line. Incremental like the
 * head parser (b->tpos: next line, b->scanned: bytes searched for LF). @return bytes
 * consumed (the whole section), H1_AGAIN or H1_ERROR.
 */
static ssize_t trailer_section(struct h1_body *b, const char *buf, size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;
    uint32_t max = b->limits->max_trailer_bytes;

    if (len > (size_t)max + 1)
        len = (size_t)max + 1;
    if (len < b->scanned)
        return body_fail(b, 500, "buffer shrank between calls"); /* caller bug */
    for (;;) {
        const unsigned char *lf = memchr(s + b->scanned, '\n', len - b->scanned);
        if (!lf) {
            b->scanned = (uint32_t)len;
            return len > max ? body_fail(b, 431, "trailer section too large") : H1_AGAIN;
        }
        uint32_t eol = (uint32_t)(lf - s);
        b->scanned = eol + 1;
        if (eol + 1 > max)
            return body_fail(b, 431, "trailer section too large");
        if (eol == b->tpos || s[eol - 1] != '\r')
            return body_fail(b, 400, "bare LF in trailer section");
        if (eol - 1 == b->tpos)
            return eol + 1;
        if (b->ntrailers >= b->trailers_cap)
            return body_fail(b, 431, "too many trailer fields");
        struct h1_header *h = &b->trailers[b->ntrailers];
        const char *why;
        if (h1_field_line_parse(buf, b->tpos, eol - 1, h, &why) < 0)
            return body_fail(b, 400, why);
        if (h->id == H1_HDR_CONTENT_LENGTH || h->id == H1_HDR_TRANSFER_ENCODING ||
            h->id == H1_HDR_HOST)
            return body_fail(b, 400, "framing field in trailer section");
        b->ntrailers++;
        b->tpos = eol + 1;
    }
}

static ssize_t chunked(struct h1_body *b, const char *buf, size_t len, struct h1_span *data)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t i = 0;
    ssize_t n;

    while (b->state != ST_DONE) {
        switch (b->state) {
        case ST_SIZE:
            n = size_line(b, s + i, len - i);
            if (n < 0)
                return i ? (ssize_t)i : n;
            i += (size_t)n;
            /* The trailer section is parsed from the start of a call's buffer. */
            if (b->state == ST_TRAILERS && i)
                return (ssize_t)i;
            break;
        case ST_DATA:
            if (data->len || i == len)
                return (ssize_t)i;
            n = (ssize_t)(len - i < b->remaining ? len - i : b->remaining);
            data->off = i;
            data->len = (size_t)n;
            b->remaining -= (uint64_t)n;
            b->total += (uint64_t)n;
            i += (size_t)n;
            if (!b->remaining)
                b->state = ST_DATA_CRLF;
            break;
        case ST_DATA_CRLF:
            if ((len - i >= 1 && s[i] != '\r') || (len - i >= 2 && s[i + 1] != '\n')) {
                body_fail(b, 400, "missing CRLF after chunk data");
                return i ? (ssize_t)i : H1_ERROR;
            }
            if (len - i < 2)
                return i ? (ssize_t)i : H1_AGAIN;
            i += 2;
            b->state = ST_SIZE;
            break;
        case ST_TRAILERS:
            n = trailer_section(b, buf, len);
            if (n < 0)
                return n;
            b->state = ST_DONE;
            b->done = true;
            return n;
        }
    }
    return (ssize_t)i;
}

/*
 * An error found after some bytes were consumed in the same call is recorded in b->status
 * and reported by the next call, so the payload before it is still delivered and the
 * outcome does not depend on how the input was split.
 */
ssize_t h1_body_parse(struct h1_body *b, const char *buf, size_t len, struct h1_span *data)
{
    data->off = 0;
    data->len = 0;
    if (b->status)
        return H1_ERROR;
    if (b->done)
        return 0;
    switch (b->kind) {
    case H1_BODY_LENGTH: {
        if (b->total == 0 && over_limit(b, b->remaining))
            return body_fail(b, 413, "body too large");
        size_t n = len < b->remaining ? len : (size_t)b->remaining;
        data->len = n;
        b->remaining -= n;
        b->total += n;
        if (!b->remaining) {
            b->done = true;
            b->state = ST_DONE;
        }
        return (ssize_t)n;
    }
    case H1_BODY_UNTIL_CLOSE:
        /* Deliver up to the limit; the byte beyond it is the error. */
        if (b->limits->max_body && len > b->limits->max_body - b->total) {
            len = (size_t)(b->limits->max_body - b->total);
            if (!len)
                return body_fail(b, 413, "body too large");
        }
        data->len = len;
        b->total += len;
        return (ssize_t)len;
    case H1_BODY_CHUNKED:
        return chunked(b, buf, len, data);
    default:
        return 0;
    }
}

int h1_body_eof(struct h1_body *b)
{
    if (b->done)
        return H1_OK;
    if (b->kind == H1_BODY_UNTIL_CLOSE && !b->status) {
        b->done = true;
        b->state = ST_DONE;
        return H1_OK;
    }
    if (!b->status) {
        b->status = 400;
        b->reason = "connection closed before the end of the body";
    }
    return H1_ERROR;
}
