/*
 * cs_utf8 — strict UTF-8 validation (RFC 3629): no overlong forms, no
 * surrogates (U+D800..U+DFFF), nothing above U+10FFFF.
 */
#ifndef CS_UTF8_H
#define CS_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the valid sequence at s[0..len), storing the code point, or 0 if invalid. */
size_t cs_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);
/* True when all of s[0..len) is valid UTF-8. Embedded NULs are valid UTF-8. */
bool cs_utf8_valid(const char *s, size_t len);
/* Encodes cp (<= 0x10FFFF, not a surrogate) into out (4 bytes); returns bytes written. */
size_t cs_utf8_encode(uint32_t cp, char out[4]);

#endif
