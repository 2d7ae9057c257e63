/* cs_hash — see cs_hash.h. */
#include "cs_hash.h"

#include "cs_dedupe.h"

#include <pthread.h>

static uint8_t cs_hash_key[16];
static pthread_once_t cs_hash_once = PTHREAD_ONCE_INIT;

static void cs_hash_init(void)
{
    cs_dedupe_new_key(cs_hash_key);
}

uint32_t cs_hash_keyed(const void *data, size_t len)
{
    pthread_once(&cs_hash_once, cs_hash_init);
    return (uint32_t)cs_siphash64(cs_hash_key, data, len);
}
