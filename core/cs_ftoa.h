/*
 * cs_ftoa — a binary32 written as the shortest decimal of at most 9 significant digits
 * that reads back (strtof) as the same float, without printf.
 *
 * Why: the index writes every vector component into Qdrant's JSON; with printf's "%.7g",
 * a strtof check and "%.9g" when that failed, float formatting was 60 % of its CPU.
 * Here the digits come from one multiplication by a power of ten per candidate length,
 * and a candidate is kept only when it lies strictly inside the float's rounding interval
 * (the midpoints to its neighbours) by a margin far wider than double arithmetic's error
 * (ties exactly, where that is exact), so what is kept always reads back, and 9 digits always do (the argument is at the top
 * of cs_ftoa.c; every positive finite float was checked once, 2,139,095,039 of them).
 * Output is a JSON number: "-0.0123", "1.5e-7", "3.4028235e38"; NaN and infinities
 * have no JSON form and are written as "null" (callers refuse them before).
 */
#ifndef CS_FTOA_H
#define CS_FTOA_H

#include <stddef.h>

/* Longest output: "-1.23456789e-45" plus the NUL. */
#define CS_FTOA_MAX 20

/* Writes f into s (NUL-terminated); returns the length. */
size_t cs_ftoa(float f, char s[CS_FTOA_MAX]);

#endif
