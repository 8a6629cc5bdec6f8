/*
 * core/process/proc_spin.h - a short, adaptive spin before a process of
 * the process base blocks for its next message.
 *
 * Waking a process that sleeps on a vCPU that went idle costs tens of
 * microseconds on the VMs measured (the vCPU halted; BENCHMARKS.md), four
 * times a request between processes on one vCPU. A process that just had
 * traffic and expects more soon (a reply, the next request of a
 * conversation) therefore first looks for it without sleeping, for at most
 * ens_system_opts.spin_us. It spins only while spinning pays: a spin that saw
 * its input arrive without losing its CPU (the peer answered from another
 * CPU) keeps spinning on. One that did not, or that lost its CPU meanwhile
 * (getrusage's involuntary switches, or a gap between two looks: a peer
 * sharing the CPU can answer only then, so its answer proves nothing), is
 * a miss and doubles the number of waits that sleep without spinning
 * before the next try (up to ENS_SPIN_BACKOFF_MAX); input already there
 * at the first look is neither (the next half of the back-off's waits do
 * not look). A process with no traffic in the last
 * ENS_SPIN_WINDOW_NS never spins, so an idle system stays idle: at most one
 * spin follows the last message.
 */
#ifndef ENS_PROC_SPIN_H
#define ENS_PROC_SPIN_H

#include <stdbool.h>
#include <stdint.h>

#define ENS_SPIN_WINDOW_NS   2000000u /* traffic older than this: no spin */
#define ENS_SPIN_BACKOFF_MAX 4096u    /* waits without a spin after many misses */
#define ENS_SPIN_GAP_NS      20000u   /* a look this late: the spinner lost its CPU */
#define ENS_SPIN_US_MAX      1000u    /* spin_us above this is taken as this */

typedef struct ens_spin {
    uint64_t limit_ns;        /* how long one spin may last; 0: never spin */
    uint64_t last_traffic_ns; /* monotonic: when input last arrived */
    uint32_t backoff;         /* waits to skip after the next miss */
    uint32_t skip;            /* waits left that sleep without a spin */
    bool traffic;             /* input arrived since the last wait */
    /* Counters (tests, benchmarks): spins that saw input, spins that did
     * not, and sleeps. */
    uint64_t spins_paid, spins_wasted, sleeps;
} ens_spin;

/* Set sp up to spin for up to spin_us (0: never). */
void ens__spin_init(ens_spin *sp, uint32_t spin_us);

/* Input arrived (cheap: called for every batch of it). */
static inline void ens__spin_traffic(ens_spin *sp)
{
    sp->traffic = true;
}

/* Just before a wait that will sleep on fd (readable when there is input:
 * an epoll set): spin when it pays. true: fd became readable during the
 * spin (the wait will not sleep); false: it will sleep. */
bool ens__spin_before_wait(ens_spin *sp, int fd);

/* The counters of this process's spin (the actor's or the outside's):
 * for tests. */
void ens__spin_counts(const ens_spin *sp, uint64_t *paid, uint64_t *wasted, uint64_t *sleeps);

#endif
