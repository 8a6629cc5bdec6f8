/*
 * core/process/proc_zygote.c - the zygote and its spares (see core/process/proc_zygote.h).
 *
 * Channels (SOCK_SEQPACKET, control frames):
 *  - admin -> zygote: ens__ctl_spare {enable: how many more spares},
 *    made in one go, each sent as soon as it is made;
 *  - zygote -> admin: ens__ctl_spawned {status: a spare's pid}, with the
 *    admin's end of that spare's channel;
 *  - admin -> spare: ens__ctl_fork, with the actor's stage memfd and
 *    receiving ends. The spare becomes that actor, and its channel the
 *    actor's control channel (one socket pair less per spawn to make, pass
 *    and release).
 * The zygote and the spares are single-threaded and run no libuv loop.
 * Spares are made with a raw clone(CLONE_PARENT): no lock of libc's is held
 * at the clone (one thread), and glibc's cached thread id in the spare is
 * the zygote's, which only pthread calls aimed at the thread itself would
 * use (raise and abort ask the kernel: the crash tests cover them).
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/process/proc_zygote.h"
#include "ensemble/error.h"

#define SPARE_WAIT_MS 5000 /* a spare on its way later than this: the zygote is stuck */

enum { FD_STAGE, FD_RX };

/* ---- in a spare --------------------------------------------------------- */

/* The spare got its actor: take over the descriptors and run it, with ch
 * as its control channel. Besides them the spare holds only what its loop
 * opened. */
_Noreturn static void become_actor(ens_system *s, int ch, const ens__ctl_fork_v *v, const int *fds)
{
    size_t stage_len;
    ens_stage *st = ens__stage_map_fd(fds[FD_STAGE], &stage_len);
    close(fds[FD_STAGE]);
    if (st == NULL)
        _exit(ENS_PROC_EXIT_NO_MEMORY);
    uint8_t *arg = NULL;
    if (v->arg.len > 0 && (arg = malloc(v->arg.len)) == NULL)
        _exit(ENS_PROC_EXIT_NO_MEMORY);
    if (arg != NULL)
        memcpy(arg, v->arg.data, v->arg.len);
    ens_actor_boot boot = {
        .sys = s,
        .def = (const ens_actor_def *)(uintptr_t)v->def,
        .addr = v->addr,
        .parent = v->parent,
        .incarnation = v->incarnation,
        .ctl = ch,
        .rx = &fds[FD_RX],
        .n_rx = v->rx_ids.count,
        .rx_ids = v->rx_ids.items,
        .stage = st,
        .arg_frame = arg,
        .arg_len = v->arg.len,
        .sync = v->sync != 0,
        .spawn_flags = v->spawn_flags,
        .global = v->global,
        .answer_to = v->answer_to,
        .answer_corr = v->answer_corr,
    };
    ens__actor_process_main(&boot);
}

/* A spare: wait for one ens__ctl_fork on ch, then become that actor. Any
 * other end (the admin closed the channel, a bad frame) ends the spare. */
_Noreturn static void spare_main(ens_system *s, pid_t admin, int ch)
{
    /* The death signal is not inherited: set it again (our parent is the
     * admin, CLONE_PARENT), and make sure the admin did not end meanwhile. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != admin)
        _exit(ENS_PROC_EXIT_PARENT_GONE);
    ens__close_fds_except(&ch, 1);
    ens__proctitle("ens-spare %s", s->name);
    /* What does not depend on the actor is done now, while nobody waits. */
    if (!ens__actor_process_prepare())
        _exit(ENS_PROC_EXIT_NO_LOOP);
    for (;;) {
        struct pollfd p = {.fd = ch, .events = POLLIN};
        if (poll(&p, 1, -1) < 0 && errno != EINTR)
            _exit(ENS_PROC_EXIT_CHANNEL);
        ens_msg *m = NULL;
        int fds[ENS_CTL_MAX_FDS];
        int nfds = ENS_CTL_MAX_FDS;
        int rc = ens__ctl_recv(ch, &m, fds, &nfds);
        if (rc == 0)
            continue;
        const ens__ctl_fork_v *v = rc == 1 && m->hdr.type_id == ens__ctl_fork.id ? m->value : NULL;
        if (v != NULL && nfds == FD_RX + (int)v->rx_ids.count)
            become_actor(s, ch, v, fds); /* m stays: its value is the boot */
        _exit(0);
    }
}

/* ---- in the zygote ------------------------------------------------------ */

/* fork(), except that the child's parent is our parent (the admin). */
static pid_t clone_sibling(void)
{
    return (pid_t)syscall(SYS_clone, (unsigned long)(CLONE_PARENT | SIGCHLD), NULL, NULL, NULL,
                          0ul);
}

/* Make one spare and hand it to the admin, or tell it why not (a process
 * or descriptor limit: the admin then forks by itself). False if the admin
 * is gone. */
static bool make_spare(ens_system *s, pid_t admin, int ch)
{
    int sv[2] = {-1, -1};
    pid_t pid = -1;
    int why = ENS_EAGAIN;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0) {
        pid = clone_sibling();
        if (pid == 0) {
            close(sv[0]);
            spare_main(s, admin, sv[1]);
        }
        if (pid < 0 && errno != EAGAIN)
            why = ENS_ENOMEM;
        close(sv[1]);
    }
    ens__ctl_status_v v = {ENS_ADDR_NONE, pid > 0 ? (int32_t)pid : why};
    bool ok =
        ens__ctl_send(ch, ENS_ADDR_NONE, &ens__ctl_spawned, &v, 0, &sv[0], pid > 0 ? 1 : 0) == 0;
    if (sv[0] >= 0)
        close(sv[0]); /* the spare, if the admin never got it, ends on end of file */
    return ok;
}

/* Take once, here, what every spare would otherwise take anew after its
 * clone (each at the price of page faults): the symbols and the heap that
 * receiving and decoding its ens__ctl_fork use. */
static void warm_up(void)
{
    uint8_t arg[64] = {0};
    ens__ctl_fork_v v = {.arg = {arg, sizeof(arg)}};
    uint8_t *frame = NULL;
    size_t len = 0;
    ens_msg *m = NULL;
    if (ens__ctl_build(ENS_ADDR_NONE, &ens__ctl_fork, &v, 0, &frame, &len) == 0 &&
        ens__msg_from_frame(frame, len, ENS_CTL_MAX, &m) == 0)
        ens_msg_free(m);
    else
        free(frame);
}

/* Give the zygote's private memory anon_vmas of its own. Each page a
 * process wrote since the program started (heap, libraries' data and
 * relocations) lies in an area whose anon_vma chain has one link per
 * ancestor (program -> admin -> zygote): every clone copies the whole
 * chain and inserts each link into an interval tree that holds every
 * living descendant's areas, so the zygote's clone cost about twice a
 * first-generation fork. An area copied into a fresh mapping and moved
 * back over the old one (mremap) starts a chain of one. Only areas that
 * hold anonymous pages and are small are rebuilt (a sanitizer's shadow is
 * terabytes); the stack is left alone (we run on it). */
#define FRESH_MAX_AREAS 128
#define FRESH_MAX_BYTES (64u << 20)
static void fresh_anon_areas(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return;
#else
    struct fresh_area {
        uintptr_t lo, hi;
        int prot;
    } area[FRESH_MAX_AREAS];
    int n = 0;
    FILE *f = fopen("/proc/self/smaps", "re");
    if (f == NULL)
        return;
    char line[512];
    uintptr_t lo = 0, hi = 0;
    int prot = 0;
    bool candidate = false;
    while (fgets(line, sizeof(line), f) != NULL && n < FRESH_MAX_AREAS) {
        unsigned long a, b, kb;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &a, &b, perms) == 3) { /* an area's first line */
            lo = a;
            hi = b;
            prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
                   (perms[2] == 'x' ? PROT_EXEC : 0);
            /* private, readable, not code, not the stack nor a kernel area */
            candidate = perms[3] == 'p' && perms[0] == 'r' && perms[2] != 'x' &&
                        strstr(line, "[stack") == NULL && strstr(line, "[v") == NULL &&
                        b - a <= FRESH_MAX_BYTES;
        } else if (candidate && sscanf(line, "Anonymous: %lu kB", &kb) == 1) {
            if (kb > 0)
                area[n++] = (struct fresh_area){lo, hi, prot};
            candidate = false;
        }
    }
    fclose(f);
    for (int i = 0; i < n; i++) {
        size_t len = area[i].hi - area[i].lo;
        void *old = (void *)area[i].lo;
        void *fresh = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (fresh == MAP_FAILED)
            continue;
        memcpy(fresh, old, len);
        if ((area[i].prot != (PROT_READ | PROT_WRITE) && mprotect(fresh, len, area[i].prot) < 0) ||
            mremap(fresh, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, old) == MAP_FAILED)
            munmap(fresh, len);
    }
#endif
}

/* The zygote: make `initial` spares, then as many as the admin asks for. */
_Noreturn static void zygote_main(ens_system *s, pid_t admin, int ch, int initial)
{
    ens__proctitle("ens-zygote %s", s->name);
    warm_up();
    fresh_anon_areas();
    for (int i = 0; i < initial; i++) {
        if (!make_spare(s, admin, ch))
            _exit(0);
    }
    for (;;) {
        struct pollfd p = {.fd = ch, .events = POLLIN};
        if (poll(&p, 1, -1) < 0 && errno != EINTR)
            _exit(ENS_PROC_EXIT_CHANNEL);
        ens_msg *m = NULL;
        int nfds = 0;
        int rc = ens__ctl_recv(ch, &m, NULL, &nfds);
        if (rc == 0 || rc == ENS_EBADFRAME || rc == ENS_ENOMEM)
            continue;
        if (rc < 0) /* the admin closed the channel */
            _exit(0);
        int more = 0;
        if (m->hdr.type_id == ens__ctl_spare.id)
            more = ((const ens__ctl_flag_v *)m->value)->enable;
        ens_msg_free(m);
        for (int i = 0; i < more && i < ENS_ZYGOTE_SPARES_MAX; i++) {
            if (!make_spare(s, admin, ch))
                _exit(0);
        }
    }
}

/* ---- in the admin ------------------------------------------------------- */

/* How many spares the admin may hold: a 64th of its descriptor limit (an
 * eighth of the reserve it keeps, ctl_dispatch.c), within the floor and
 * ENS_ZYGOTE_SPARES_MAX. */
static int pool_cap(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return ENS_ZYGOTE_SPARES;
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur / 64 >= ENS_ZYGOTE_SPARES_MAX)
        return ENS_ZYGOTE_SPARES_MAX;
    return rl.rlim_cur / 64 > ENS_ZYGOTE_SPARES ? (int)(rl.rlim_cur / 64) : ENS_ZYGOTE_SPARES;
}

void ens__zygote_init(ens_zygote *z)
{
    memset(z, 0, sizeof(*z));
    z->fd = -1;
    z->want = ENS_ZYGOTE_SPARES;
    z->cap = pool_cap();
}

int ens__zygote_start(ens_system *s, pid_t admin, ens_zygote *z, void (*drop)(void))
{
    assert(z->pid == 0 && z->fd < 0);
    z->stuck = false;
    z->asked = 0;
    int initial = z->want - z->n_spares;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return ENS_EIO;
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return ENS_EIO;
    }
    if (pid == 0) {
        if (!ens__child_setup(admin, true))
            _exit(ENS_PROC_EXIT_PARENT_GONE);
        /* Started again later, the zygote would otherwise keep actors'
         * connections open (and pass them to every spare). */
        ens__close_fds_except(&sv[1], 1);
        if (drop != NULL)
            drop();
        s->log_role = "zygote";
        zygote_main(s, admin, sv[1], initial);
    }
    close(sv[1]);
    ens__fd_nonblock(sv[0]);
    z->pid = pid;
    z->fd = sv[0];
    z->gen++;
    z->asked = initial;
    return 0;
}

/* No longer talk to the zygote (it ended, or is killed); its pid stays
 * until it is reaped. */
static void close_zygote(ens_zygote *z)
{
    if (z->fd >= 0) {
        close(z->fd);
        z->gen++;
    }
    z->fd = -1;
    z->asked = 0;
}

static void drop_spare(ens_zygote *z, int i)
{
    close(z->spares[i].fd);
    z->spares[i] = z->spares[--z->n_spares];
}

/* Ask the zygote for the spares missing from the pool's size now. */
static void ask_spare(ens_zygote *z)
{
    int more = z->want - z->n_spares - z->asked;
    if (z->fd < 0 || more <= 0)
        return;
    ens__ctl_flag_v v = {more, 0};
    if (ens__ctl_send(z->fd, ENS_ADDR_NONE, &ens__ctl_spare, &v, 0, NULL, 0) == 0)
        z->asked += more;
}

bool ens__zygote_on_readable(ens_zygote *z)
{
    while (z->fd >= 0) {
        ens_msg *m = NULL;
        int fd = -1, nfds = 1;
        int rc = ens__ctl_recv(z->fd, &m, &fd, &nfds);
        if (rc == 0)
            return false;
        if (rc == ENS_EBADFRAME ||
            rc == ENS_ENOMEM) /* a spare unheard of: waited for as a late one */
            continue;
        if (rc < 0) { /* the zygote ended: its spares in hand stay */
            close_zygote(z);
            return true;
        }
        const ens__ctl_status_v *v = m->value;
        bool spare = m->hdr.type_id == ens__ctl_spawned.id && v->status > 0 && nfds == 1;
        pid_t pid = spare ? (pid_t)v->status : 0;
        ens_msg_free(m);
        if (z->asked > 0)
            z->asked--;
        if (!spare || z->n_spares >= z->want) { /* the pool shrank meanwhile */
            if (nfds == 1)
                close(fd); /* the spare, if any, ends on end of file */
            continue;
        }
        z->spares[z->n_spares++] = (ens_spare){pid, fd};
    }
    return false;
}

/* With no spare in hand but one asked for: wait for it. */
static void wait_spare(ens_zygote *z)
{
    uint64_t deadline = ens__mono_ns() + (uint64_t)SPARE_WAIT_MS * 1000000u;
    while (z->n_spares == 0 && z->asked > 0 && z->fd >= 0) {
        uint64_t now = ens__mono_ns();
        if (now >= deadline) { /* stuck: no longer counted on (replaced when reaped) */
            kill(z->pid, SIGKILL);
            z->stuck = true;
            close_zygote(z);
            return;
        }
        struct pollfd p = {.fd = z->fd, .events = POLLIN};
        poll(&p, 1, (int)((deadline - now) / 1000000u) + 1);
        ens__zygote_on_readable(z);
    }
}

int ens__zygote_fork(ens_zygote *z, const ens_actor_boot *b, int stage_fd, pid_t *pid, int *ctl)
{
    if (b->n_rx > ENS_ZYGOTE_MAX_RX)
        return ENS_EINVAL;
    ens__ctl_fork_v v = {
        .def = (uint64_t)(uintptr_t)b->def,
        .addr = b->addr,
        .parent = b->parent,
        .incarnation = b->incarnation,
        .spawn_flags = b->spawn_flags,
        .sync = b->sync ? 1 : 0,
        .global = (char *)b->global,
        .answer_to = b->answer_to,
        .answer_corr = b->answer_corr,
        .rx_ids = {(void *)b->rx_ids, (uint32_t)b->n_rx},
        .arg = {b->arg_frame, b->arg_len},
    };
    uint8_t *frame = NULL;
    size_t len = 0;
    int fds[ENS_CTL_MAX_FDS];
    fds[FD_STAGE] = stage_fd;
    for (size_t i = 0; i < b->n_rx; i++)
        fds[FD_RX + i] = b->rx[i];
    const int nfds = FD_RX + (int)b->n_rx;
    int rc = 0;
    z->last_fork_ns = ens__mono_ns();
    for (;;) {
        if (z->n_spares == 0 && z->want < z->cap) {
            /* Spawns come faster than one spare at a time is made: keep
             * more ready, asked for now, while this one waits. */
            z->want = z->want * 2 < z->cap ? z->want * 2 : z->cap;
            ask_spare(z);
        }
        if (z->n_spares == 0)
            wait_spare(z);
        if (z->n_spares == 0) {
            ask_spare(z); /* for the next spawn, if the limit that stopped it has lifted */
            rc = ENS_ENOENT;
            break;
        }
        if (frame == NULL &&
            (rc = ens__ctl_build(b->addr, &ens__ctl_fork, &v, 0, &frame, &len)) < 0)
            break;
        ens_spare sp = z->spares[--z->n_spares];
        rc = ens__ctl_send_raw(sp.fd, frame, len, fds, nfds, false);
        /* An actor that answers its spawner itself is on the spawner's
         * critical path: the clone of its replacement (a core for 0.1-0.3
         * ms) waits until it has answered (ens__zygote_top_up). */
        if (rc != 0 || b->answer_corr == 0)
            ask_spare(z);
        if (rc == 0) {
            *pid = sp.pid;
            *ctl = sp.fd;
            break;
        }
        close(sp.fd);
        /* That spare is gone (it is reaped later): the next one. */
    }
    free(frame);
    return rc;
}

void ens__zygote_top_up(ens_zygote *z)
{
    ask_spare(z);
}

bool ens__zygote_can_fork(const ens_zygote *z)
{
    return z->fd >= 0 || z->n_spares > 0;
}

ens_zygote_child ens__zygote_exited(ens_zygote *z, pid_t pid)
{
    if (z->pid > 0 && pid == z->pid) {
        /* Take the spares it sent before it died. (A spare cloned at that
         * moment may hold its end of the channel a little longer: do not
         * wait for the end of file.) */
        if (z->fd >= 0)
            ens__zygote_on_readable(z);
        close_zygote(z);
        z->pid = 0;
        return ENS_ZYGOTE_ITSELF;
    }
    for (int i = 0; i < z->n_spares; i++) {
        if (z->spares[i].pid == pid) {
            drop_spare(z, i);
            ask_spare(z);
            return ENS_ZYGOTE_SPARE;
        }
    }
    return ENS_ZYGOTE_NOT_OURS;
}

uint64_t ens__zygote_tick(ens_zygote *z, uint64_t now)
{
    if (z->want <= ENS_ZYGOTE_SPARES)
        return 0;
    uint64_t at = z->last_fork_ns + (uint64_t)ENS_ZYGOTE_IDLE_MS * 1000000u;
    if (now < at)
        return at;
    /* At rest: the floor again. Spares still on their way are let go as
     * they come (ens__zygote_on_readable). */
    z->want = ENS_ZYGOTE_SPARES;
    while (z->n_spares > z->want)
        drop_spare(z, z->n_spares - 1); /* it ends on end of file; reaped as not ours */
    return 0;
}

void ens__zygote_stop(ens_zygote *z)
{
    if (z->pid > 0)
        kill(z->pid, SIGKILL);
    close_zygote(z);
    z->pid = 0;
    while (z->n_spares > 0) {
        kill(z->spares[0].pid, SIGKILL);
        drop_spare(z, 0);
    }
}
