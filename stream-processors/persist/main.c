/* chatstream-persist: see persist.c. */
#include "cs_processor.h"

extern const cs_processor_t cs_persist_processor;

int main(int argc, char **argv)
{
    return cs_processor_main(&cs_persist_processor, argc, argv);
}
