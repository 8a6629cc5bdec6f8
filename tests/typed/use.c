/*
 * tests/typed/use.c - compiled by tests/typed/check.sh: as is it must
 * compile cleanly under -Werror; with -DWRONG=n each case n passes a value
 * of the wrong struct to a typed wrapper and must not compile.
 */
#include <stdint.h>

#include "ensemble/ensemble.h"

typedef struct greeting_v {
    int32_t count;
    char *text;
} greeting_v;

ENS_MESSAGE(greeting, greeting_v, "demo.Greeting", "S(is)")

int use(ens_ctx *c, ens_addr to, const ens_msg *m);

int use(ens_ctx *c, ens_addr to, const ens_msg *m)
{
    int rc = greeting_register();
    rc |= greeting_tell(c, to, &(greeting_v){1, "hi"});
    rc |= ens_int64_tell(c, to, &(ens_int64_v){41});
    const greeting_v *g = greeting_of(m);
#if WRONG == 1 /* an Int64 value given as a greeting */
    rc |= greeting_tell(c, to, &(ens_int64_v){41});
#elif WRONG == 2 /* a greeting given as an ens.String */
    rc |= ens_string_ask(c, to, &(greeting_v){1, "hi"}, 1000, NULL);
#elif WRONG == 3 /* the value of a greeting read as an Int64 */
    const ens_int64_v *n = greeting_of(m);
    rc |= n != NULL;
#elif WRONG == 4 /* a reply of the wrong struct */
    rc |= greeting_reply(c, &(ens_string_v){"hi"});
#endif
    return rc | (g != NULL);
}
