/*
 * Fuzz target: what an embeddings provider may send back. The first byte picks how many
 * inputs the response must answer (1..8) and the expected dimensions (0 = any, or 1..4);
 * the rest is the body. Accepted answers must hold exactly n * dim finite floats in
 * input order; the error-message extractor must stay within its buffer.
 */
#include "cs_embedder.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n = 1 + (data[0] & 7);
    uint32_t expect = (data[0] >> 3) & 7;
    if (expect > 4)
        expect = 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    float *vecs = NULL;
    uint32_t dim = 0;
    char errstr[200];
    if (cs_embed_parse_response(body, len, n, expect, &vecs, &dim, errstr, sizeof(errstr)) ==
        CS_ERR_OK) {
        if (!vecs || dim == 0 || (expect && dim != expect))
            abort();
        for (size_t i = 0; i < n * dim; i++)
            if (!isfinite(vecs[i]))
                abort();
        free(vecs);
    } else if (vecs) {
        abort(); /* nothing handed out on failure */
    }
    char msg[64];
    cs_embed_parse_error(body, len, msg, sizeof(msg));
    if (strlen(msg) >= sizeof(msg))
        abort();
    return 0;
}
