#include "cs_err.h"

static const struct {
    const char *name;
    const char *msg;
    bool retriable;
} cs_err_table[] = {
#define CS_ERR_ROW(name, retriable, msg) {#name, msg, retriable},
    CS_ERR_LIST(CS_ERR_ROW)
#undef CS_ERR_ROW
};

static int cs_err_valid(cs_err_t err)
{
    return (int)err >= 0 && err < CS_ERR__COUNT;
}

const char *cs_err_name(cs_err_t err)
{
    return cs_err_valid(err) ? cs_err_table[err].name : "UNKNOWN";
}

const char *cs_err_str(cs_err_t err)
{
    return cs_err_valid(err) ? cs_err_table[err].msg : "unknown error";
}

bool cs_err_retriable(cs_err_t err)
{
    return cs_err_valid(err) && cs_err_table[err].retriable;
}
