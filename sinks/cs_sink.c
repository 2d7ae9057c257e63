#include "cs_sink.h"

#include <string.h>

static const cs_sink_ops_t *const cs_sinks[] = {
    &cs_sink_postgres,
    &cs_sink_postgres_search,
#ifdef CS_HAVE_MONGOC
    &cs_sink_mongodb,
#endif
};

const cs_sink_ops_t *cs_sink_find(const char *name)
{
    for (size_t i = 0; i < sizeof(cs_sinks) / sizeof(cs_sinks[0]); i++)
        if (strcmp(cs_sinks[i]->name, name) == 0)
            return cs_sinks[i];
    return NULL;
}

size_t cs_sink_count(void)
{
    return sizeof(cs_sinks) / sizeof(cs_sinks[0]);
}

const cs_sink_ops_t *cs_sink_at(size_t i)
{
    return i < cs_sink_count() ? cs_sinks[i] : NULL;
}
