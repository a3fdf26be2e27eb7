/*
 * h1_int.h - private to src/http1/: the character-class tables and the field-line parser
 * shared by the head parser (parse.c) and the trailer parser (chunked.c).
 * Not part of the module's API; nothing outside src/http1/ includes it.
 */
#ifndef WASP_SRC_HTTP1_H1_INT_H
#define WASP_SRC_HTTP1_H1_INT_H

#include <stdint.h>

#include "h1.h"

/* Character classes, indexed by the byte (RFC 9110 §5.6.2, §5.5). */
extern const uint8_t h1_tchar[256]; /* token characters */
extern const uint8_t h1_vchar[256]; /* field-value octets: HTAB, SP, VCHAR, obs-text */
extern const uint8_t h1_lower[256]; /* ASCII lower-casing */

/*
 * Parse the field line buf[s, e) where buf[e] == '\r' (the caller checked the CRLF), into
 * h: name (a token followed directly by ':'), value with OWS trimmed, and id (enum
 * h1_header_id; flags are left 0). @return 0, or -1 with *reason set (all are 400s:
 * obs-fold, whitespace before colon, bad name character, control character in value).
 */
int h1_field_line_parse(const char *buf, uint32_t s, uint32_t e, struct h1_header *h,
                        const char **reason);

#endif
