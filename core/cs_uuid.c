#include "cs_uuid.h"
#include "cs_rand.h"
#include "cs_time.h"

#include <string.h>

static _Thread_local int64_t cs_uuid_last_ms;
static _Thread_local uint16_t cs_uuid_counter;

void cs_uuid_v7(cs_uuid_t *uuid)
{
    int64_t ms = cs_wall_ms();
    if (ms <= cs_uuid_last_ms) {
        /* Same millisecond (or the clock stepped back): count up; on overflow borrow
         * the next millisecond, so ids from this thread never go backwards. */
        ms = cs_uuid_last_ms;
        if (++cs_uuid_counter > 0xfff) {
            ms++;
            cs_uuid_counter = (uint16_t)(cs_rand_u64() & 0x1ff);
        }
    } else {
        /* Start low in the 12-bit space to leave room to count up. */
        cs_uuid_counter = (uint16_t)(cs_rand_u64() & 0x1ff);
    }
    cs_uuid_last_ms = ms;
    uint64_t r = cs_rand_u64();
    uuid->b[0] = (uint8_t)(ms >> 40);
    uuid->b[1] = (uint8_t)(ms >> 32);
    uuid->b[2] = (uint8_t)(ms >> 24);
    uuid->b[3] = (uint8_t)(ms >> 16);
    uuid->b[4] = (uint8_t)(ms >> 8);
    uuid->b[5] = (uint8_t)ms;
    uuid->b[6] = (uint8_t)(0x70 | (cs_uuid_counter >> 8));
    uuid->b[7] = (uint8_t)cs_uuid_counter;
    uuid->b[8] = (uint8_t)(0x80 | (r & 0x3f));
    for (int i = 9; i < 16; i++) {
        r >>= 8;
        if (i == 12)
            r = cs_rand_u64();
        uuid->b[i] = (uint8_t)r;
    }
}

void cs_uuid_format(const cs_uuid_t *uuid, char *out)
{
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[uuid->b[i] >> 4];
        *p++ = hex[uuid->b[i] & 15];
    }
    *p = '\0';
}

static int cs_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool cs_uuid_parse(const char *str, size_t len, cs_uuid_t *uuid)
{
    if (len != CS_UUID_STR_LEN)
        return false;
    size_t j = 0;
    for (size_t i = 0; i < len;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (str[i] != '-')
                return false;
            i++;
            continue;
        }
        int hi = cs_hexval(str[i]), lo = cs_hexval(str[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        uuid->b[j++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return j == 16;
}

int64_t cs_uuid_v7_ms(const cs_uuid_t *uuid)
{
    int64_t ms = 0;
    for (int i = 0; i < 6; i++)
        ms = (ms << 8) | uuid->b[i];
    return ms;
}
