/*
 * write.c - HTTP/1.x serialisation: request heads (to upstreams), response heads (to
 * clients), chunk framing, and the reason-phrase table.
 *
 * Every field is validated before anything is written, so a plugin that puts CR/LF into
 * a header value cannot split the message (header injection); the writers then fill the
 * caller's buffer in one pass, snprintf-style.
 */
#include <string.h>

#include "h1_int.h"

static bool is_token(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!h1_tchar[(uint8_t)s[i]])
            return false;
    }
    return true;
}

static bool is_field_value(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!h1_vchar[(uint8_t)s[i]])
            return false;
    }
    return true;
}

/* Validate the fields; @return their serialised size ("name: value\r\n" each) or -1. */
static ssize_t fields_size(const struct h1_field *f, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_token(f[i].name, f[i].name_len) || !is_field_value(f[i].value, f[i].value_len))
            return H1_ERROR;
        total += f[i].name_len + f[i].value_len + 4;
    }
    return (ssize_t)total;
}

static char *put(char *o, const char *s, size_t len)
{
    memcpy(o, s, len);
    return o + len;
}

static char *put_fields(char *o, const struct h1_field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        o = put(o, f[i].name, f[i].name_len);
        *o++ = ':';
        *o++ = ' ';
        o = put(o, f[i].value, f[i].value_len);
        *o++ = '\r';
        *o++ = '\n';
    }
    *o++ = '\r';
    *o++ = '\n';
    return o;
}

ssize_t h1_write_request_head(char *out, size_t cap, const char *method, size_t method_len,
                              const char *target, size_t target_len, int version_minor,
                              const struct h1_field *fields, size_t nfields)
{
    if (!is_token(method, method_len) || target_len == 0 ||
        (version_minor != 0 && version_minor != 1))
        return H1_ERROR;
    for (size_t i = 0; i < target_len; i++) {
        uint8_t c = (uint8_t)target[i];
        if (c <= 0x20 || c >= 0x7f)
            return H1_ERROR;
    }
    ssize_t fs = fields_size(fields, nfields);
    if (fs < 0)
        return H1_ERROR;
    size_t total = method_len + 1 + target_len + 1 + 8 + 2 + (size_t)fs + 2;
    if (total > cap)
        return (ssize_t)total;
    char *o = put(out, method, method_len);
    *o++ = ' ';
    o = put(o, target, target_len);
    o = put(o, version_minor ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n", 11);
    put_fields(o, fields, nfields);
    return (ssize_t)total;
}

ssize_t h1_write_response_head(char *out, size_t cap, int status, const char *reason,
                               int version_minor, const struct h1_field *fields, size_t nfields)
{
    if (status < 100 || status > 999 || (version_minor != 0 && version_minor != 1))
        return H1_ERROR;
    if (!reason)
        reason = h1_status_reason(status);
    size_t rlen = strlen(reason);
    if (!is_field_value(reason, rlen))
        return H1_ERROR;
    ssize_t fs = fields_size(fields, nfields);
    if (fs < 0)
        return H1_ERROR;
    size_t total = 8 + 1 + 3 + 1 + rlen + 2 + (size_t)fs + 2;
    if (total > cap)
        return (ssize_t)total;
    char *o = put(out, version_minor ? "HTTP/1.1 " : "HTTP/1.0 ", 9);
    *o++ = (char)('0' + status / 100);
    *o++ = (char)('0' + status / 10 % 10);
    *o++ = (char)('0' + status % 10);
    *o++ = ' ';
    o = put(o, reason, rlen);
    *o++ = '\r';
    *o++ = '\n';
    put_fields(o, fields, nfields);
    return (ssize_t)total;
}

size_t h1_write_chunk_header(char *out, uint64_t size)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    size_t n = 0;
    do {
        tmp[n++] = hex[size & 15];
        size >>= 4;
    } while (size);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\r';
    out[n + 1] = '\n';
    return n + 2;
}

ssize_t h1_write_last_chunk(char *out, size_t cap, const struct h1_field *trailers,
                            size_t ntrailers)
{
    ssize_t fs = fields_size(trailers, ntrailers);
    if (fs < 0)
        return H1_ERROR;
    size_t total = 3 + (size_t)fs + 2;
    if (total > cap)
        return (ssize_t)total;
    put_fields(put(out, "0\r\n", 3), trailers, ntrailers);
    return (ssize_t)total;
}

const char *h1_status_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 103:
        return "Early Hints";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 203:
        return "Non-Authoritative Information";
    case 204:
        return "No Content";
    case 205:
        return "Reset Content";
    case 206:
        return "Partial Content";
    case 300:
        return "Multiple Choices";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Content";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}
