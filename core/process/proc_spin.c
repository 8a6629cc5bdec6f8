/*
 * core/process/proc_spin.c - the adaptive spin before a process blocks
 * (proc_spin.h says why and when).
 */
#include "core/process/proc_spin.h"

#include <poll.h>

#include "core/runtime/runtime.h"

void ens__spin_init(ens_spin *sp, uint32_t spin_us)
{
    *sp = (ens_spin){0};
    if (spin_us > ENS_SPIN_US_MAX)
        spin_us = ENS_SPIN_US_MAX;
    sp->limit_ns = (uint64_t)spin_us * 1000u;
    sp->backoff = 1;
}

static bool readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

bool ens__spin_before_wait(ens_spin *sp, int fd)
{
    if (sp->limit_ns == 0)
        return false;
    uint64_t now = ens__mono_ns();
    if (sp->traffic) { /* input handled since the last wait */
        sp->last_traffic_ns = now;
        sp->traffic = false;
    }
    if (now - sp->last_traffic_ns >= ENS_SPIN_WINDOW_NS)
        return false; /* idle: sleep */
    if (sp->skip > 0) {
        sp->skip--;
        sp->sleeps++;
        return false;
    }
    const uint64_t end = now + sp->limit_ns;
    bool seen;
    do {
        /* No sched_yield: it hands the CPU to any runnable process of
         * the machine for a whole time slice (measured with another
         * process busy: 80 us round trips against 29 without a spin). A peer on this CPU cannot
         * answer meanwhile: such spins miss and back off. */
        __builtin_ia32_pause();
        seen = readable(fd);
        now = ens__mono_ns();
    } while (!seen && now < end);
    if (seen && now <= end) {
        sp->spins_paid++;
        sp->backoff = 1;
        return true;
    }
    /* Nothing came in time, or others had the CPU for longer than a spin:
     * sleep more often before trying again. */
    sp->spins_wasted++;
    sp->skip = sp->backoff;
    sp->backoff = sp->backoff * 2 > ENS_SPIN_BACKOFF_MAX ? ENS_SPIN_BACKOFF_MAX : sp->backoff * 2;
    if (!seen)
        sp->sleeps++;
    return seen;
}

void ens__spin_counts(const ens_spin *sp, uint64_t *paid, uint64_t *wasted, uint64_t *sleeps)
{
    *paid = sp->spins_paid;
    *wasted = sp->spins_wasted;
    *sleeps = sp->sleeps;
}
