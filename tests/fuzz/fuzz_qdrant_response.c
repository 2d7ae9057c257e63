/*
 * Fuzz target: what a Qdrant shard may send back, through every parser the client has:
 * search hits (both API shapes), update confirmations, collection info, error messages.
 * Accepted hits must carry a canonical UUID, a finite score and bounded, NUL-free texts.
 */
#include "cs_qdrant.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    char errstr[200];
    for (int api = 0; api < 2; api++) {
        cs_qdrant_hits_t hits = {0};
        if (cs_qdrant_parse_hits(body, size, api == 1, 3, &hits, errstr, sizeof(errstr)) ==
            CS_ERR_OK) {
            for (size_t i = 0; i < hits.n; i++) {
                const cs_qdrant_hit_t *h = &hits.hits[i];
                if (strlen(h->id) != 36 || !isfinite(h->score) || h->shard != 3 ||
                    strlen(h->text) > 4096 || !*h->room || !*h->user)
                    abort();
            }
        }
        cs_qdrant_hits_free(&hits);
    }
    cs_qdrant_parse_update(body, size, errstr, sizeof(errstr));
    uint32_t dim;
    int idx;
    if (cs_qdrant_parse_collection(body, size, &dim, &idx, errstr, sizeof(errstr)) == CS_ERR_OK &&
        (dim < 1 || dim > 4096 || idx < 0 || idx > 7))
        abort();
    char msg[64];
    cs_qdrant_parse_error(body, size, msg, sizeof(msg));
    if (strlen(msg) >= sizeof(msg))
        abort();
    return 0;
}
