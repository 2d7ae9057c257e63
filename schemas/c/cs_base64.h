/*
 * cs_base64 — RFC 4648 base64 (standard alphabet, '=' padding), strict.
 *
 * Decoding accepts exactly the canonical encoding: no whitespace, no missing
 * or extra padding, and no non-zero bits in the last character's unused part,
 * so every byte string has one accepted text form (a decoder that accepts two
 * spellings of the same vector makes fuzzing round trips meaningless).
 */
#ifndef CS_BASE64_H
#define CS_BASE64_H

#include "cs_buf.h"

#include <stdbool.h>
#include <stddef.h>

/* Encoded length of n bytes (without a NUL). */
static inline size_t cs_base64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* Appends the encoding of in[0..n). */
void cs_base64_encode(const void *in, size_t n, cs_buf_t *out);

/* Decodes in[0..len) into out (room for len / 4 * 3 bytes); *out_len gets the size.
 * False if the input is not canonical base64. */
bool cs_base64_decode(const char *in, size_t len, void *out, size_t *out_len);

#endif
