/* chatstream-fanout: see fanout.c. */
#include "cs_processor.h"

extern const cs_processor_t cs_fanout_processor;

int main(int argc, char **argv)
{
    return cs_processor_main(&cs_fanout_processor, argc, argv);
}
