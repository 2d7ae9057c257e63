/* chatstream-index: see index.c. */
#include "cs_processor.h"

extern const cs_processor_t cs_index_processor;

int main(int argc, char **argv)
{
    return cs_processor_main(&cs_index_processor, argc, argv);
}
