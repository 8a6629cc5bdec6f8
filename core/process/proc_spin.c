/*
 * core/process/proc_spin.c - the adaptive spin before a process blocks
 * (proc_spin.h says why and when).
 */
#include "core/process/proc_spin.h"

#include <poll.h>
#include <sys/resource.h>

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

/* Times this thread was taken off its CPU while it could run, or -1. */
static long involuntary_switches(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_THREAD, &ru) < 0)
        return -1;
    return ru.ru_nivcsw;
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
    /* Input already there (it came while this turn ran): nothing to wait
     * for, and nothing learnt about whether spinning pays - a peer that
     * shares the CPU answers this way too, when it preempted this process
     * in its turn. Where spinning has not paid lately, the next waits do
     * not look again (this look is a system call the wait would make
     * anyway). */
    if (readable(fd)) {
        sp->skip = sp->backoff / 2;
        return true;
    }
    const uint64_t end = now + sp->limit_ns;
    const long switched = involuntary_switches();
    bool seen, gap = false;
    do {
        /* No sched_yield: it hands the CPU to any runnable process of
         * the machine for a whole time slice (measured with another
         * process busy: 80 us round trips against 29 without a spin). A
         * peer on this CPU cannot answer meanwhile: such spins miss and
         * back off. */
        __builtin_ia32_pause();
        seen = readable(fd);
        const uint64_t before = now;
        now = ens__mono_ns();
        /* A look takes a microsecond or two: a longer gap is this process
         * off its CPU (preempted, or its vCPU not running), and what the
         * spin waits for may have run meanwhile in its place: stop, a
         * miss. */
        if (now - before > ENS_SPIN_GAP_NS) {
            gap = true;
            break;
        }
    } while (!seen && now < end);
    /* A spin pays only when the input came from a peer running on another
     * CPU. One that lost its CPU meanwhile (to the peer sharing it, which
     * could answer only then, or to anyone else) bought nothing a sleep
     * would not have, and cost the rest of its spin and a preemption:
     * a miss, even when the input is there now. */
    if (seen && !gap && now <= end && switched >= 0 && involuntary_switches() == switched) {
        sp->spins_paid++;
        sp->backoff = 1;
        return true;
    }
    /* Nothing came in time, or the CPU went to others meanwhile: sleep
     * more often before trying again. */
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
