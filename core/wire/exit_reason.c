/*
 * core/wire/exit_reason.c - the names of enum ens_exit_reason (ensemble/msg.h).
 */
#include <stddef.h>

#include "ensemble/msg.h"

const char *ens_exit_reason_name(int reason)
{
    /* Indexed by the enum: a reason added there without a name here reads
     * as unknown, and the test of this function lists every reason. */
    static const char *const names[] = {
        [ENS_EXIT_NORMAL] = "ENS_EXIT_NORMAL",
        [ENS_EXIT_SHUTDOWN] = "ENS_EXIT_SHUTDOWN",
        [ENS_EXIT_ERROR] = "ENS_EXIT_ERROR",
        [ENS_EXIT_CRASH] = "ENS_EXIT_CRASH",
        [ENS_EXIT_KILLED] = "ENS_EXIT_KILLED",
        [ENS_EXIT_INIT_FAILED] = "ENS_EXIT_INIT_FAILED",
        [ENS_EXIT_INTENSITY] = "ENS_EXIT_INTENSITY",
        [ENS_EXIT_NOPLACE] = "ENS_EXIT_NOPLACE",
        [ENS_EXIT_NOCONNECTION] = "ENS_EXIT_NOCONNECTION",
    };
    if (reason < 0 || (size_t)reason >= sizeof(names) / sizeof(names[0]) || names[reason] == NULL)
        return "ENS_EXIT_UNKNOWN";
    return names[reason];
}
