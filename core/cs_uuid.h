/*
 * cs_uuid — UUIDv7 (RFC 9562) message ids.
 *
 * A message id is assigned once, by the gateway (or a producer tool), and every
 * downstream write is idempotent on it. Version 7 puts the millisecond time first,
 * so ids sort by creation time and B-tree inserts stay at the right edge.
 * Within one millisecond a thread's ids increase (12-bit counter, RFC 9562 §6.2
 * method 1), so ids from one gateway thread are strictly increasing.
 */
#ifndef CS_UUID_H
#define CS_UUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CS_UUID_STR_LEN 36 /* without the NUL */

typedef struct cs_uuid {
    uint8_t b[16];
} cs_uuid_t;

void cs_uuid_v7(cs_uuid_t *uuid);
/* Lowercase canonical form into out[CS_UUID_STR_LEN + 1]. */
void cs_uuid_format(const cs_uuid_t *uuid, char *out);
/* Parses the canonical 8-4-4-4-12 form (either case); false if malformed. */
bool cs_uuid_parse(const char *str, size_t len, cs_uuid_t *uuid);
/* The Unix time in ms stored in a v7 id. */
int64_t cs_uuid_v7_ms(const cs_uuid_t *uuid);

#endif
