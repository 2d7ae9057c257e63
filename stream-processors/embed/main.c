/* chatstream-embed: see embed.c. */
#include "cs_processor.h"

extern const cs_processor_t cs_embed_processor;

int main(int argc, char **argv)
{
    return cs_processor_main(&cs_embed_processor, argc, argv);
}
