/*
 * core/process/admin/records.c - the admin's records: one per actor and per
 * outside endpoint, found by address id and by pid in O(1), with the two
 * lists a turn of the loop keeps: the records whose epoll registrations
 * may have changed (synced at the turn's end) and the records freed during
 * the turn (kept in memory, marked gone, until the turn ends).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/process/admin/admin.h"
#include "core/process/admin/idmap.h"
#include "core/process/admin/proc_names.h"
#include "ensemble/error.h"

/* Records are found by id and by pid in O(1) (core/process/admin/idmap.h); the epoll set
 * follows only the records touched this turn (the dirty list); a record
 * freed while a turn's batch of events may still name it is kept until the
 * turn ends (the graveyard). So an event costs the admin the same with 10
 * or 1 000 actors. */
static ens_idmap rec_by_id, rec_by_pid;
static arec **dirty_recs;
static size_t n_dirty, cap_dirty;
static arec *graveyard;
size_t ens__admin_n_hello; /* records waiting for a program's hello */

/* r's wanted epoll events may have changed: sync them at the turn's end. */
void ens__admin_dirty(arec *r)
{
    if (r->ep_dirty || r->gone)
        return;
    if (n_dirty == cap_dirty) {
        size_t cap = cap_dirty ? cap_dirty * 2 : 64;
        arec **n = ens__realloc(dirty_recs, cap * sizeof(*n));
        if (n == NULL) {
            /* Cannot remember it: sync now (the caller may still change it,
             * and then marks it again). */
            ens__alloc_failed(admin_state.sys,
                              "the admin's list of records to sync (synced at once)");
            ens__admin_ep_sync(r);
            return;
        }
        dirty_recs = n;
        cap_dirty = cap;
    }
    r->ep_dirty = true;
    dirty_recs[n_dirty++] = r;
}

/* Index r by its address's id (after the address is set). */
void ens__admin_rec_index(arec *r)
{
    if (r->map_id != 0)
        ens__idmap_del(&rec_by_id, r->map_id);
    r->map_id = r->addr.id;
    if (r->map_id != 0 && ens__idmap_put(&rec_by_id, r->map_id, r) < 0) {
        r->map_id = 0;
        ens__alloc_failed(admin_state.sys, "indexing an actor: it cannot be found");
    }
}

void ens__admin_rec_set_pid(arec *r, pid_t pid)
{
    if (r->pid > 0 && ens__idmap_get(&rec_by_pid, (uint64_t)r->pid) == r)
        ens__idmap_del(&rec_by_pid, (uint64_t)r->pid);
    r->pid = pid;
    if (pid > 0 && ens__idmap_put(&rec_by_pid, (uint64_t)pid, r) < 0)
        ens__alloc_failed(admin_state.sys, "indexing a process: its end is found by a search");
}

arec *ens__admin_by_addr(ens_addr addr)
{
    arec *r = ens__idmap_get(&rec_by_id, addr.id);
    return r != NULL && !r->gone && ens_addr_equal(r->addr, addr) ? r : NULL;
}

arec *ens__admin_by_pid(pid_t pid)
{
    arec *r = ens__idmap_get(&rec_by_pid, (uint64_t)pid);
    for (size_t i = 0; r == NULL && i < admin_state.n; i++) /* not indexed: out of memory */
        r = admin_state.recs[i]->pid == pid ? admin_state.recs[i] : NULL;
    return r;
}

arec *ens__admin_outside(void)
{
    return admin_state.starter;
}

arec *ens__admin_route(ens_addr addr)
{
    if (addr.node != admin_state.sys->node && addr.node != 0)
        return admin_state.gateway != NULL && !admin_state.gateway->gone ? admin_state.gateway
                                                                         : NULL;
    return ens__admin_by_addr(addr);
}

/* ---- records ------------------------------------------------------------ */

arec *ens__admin_rec_add(void)
{
    if (admin_state.n == admin_state.cap) {
        size_t cap = admin_state.cap ? admin_state.cap * 2 : 32;
        arec **n = ens__realloc(admin_state.recs, cap * sizeof(*n));
        if (n == NULL)
            return NULL;
        admin_state.recs = n;
        admin_state.cap = cap;
    }
    arec *r = ens__calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->ctl = -1;
    r->tx = -1;
    r->stage_fd = -1;
    r->ep_ctl = r->ep_tx = -1;
    admin_state.recs[admin_state.n++] = r;
    return r;
}

int ens__admin_rx_add(arec *r, uint64_t id, int fd)
{
    if (r->n_rx == r->cap_rx) {
        size_t cap = r->cap_rx ? r->cap_rx * 2 : 8;
        rxend *n = ens__realloc(r->rx, cap * sizeof(*n));
        if (n == NULL)
            return ENS_ENOMEM;
        r->rx = n;
        r->cap_rx = cap;
    }
    r->rx[r->n_rx++] = (rxend){id, fd};
    if (admin_state.fds_unchecked > 0) /* one more held: ens__admin_fds_short */
        admin_state.fds_unchecked--;
    return 0;
}

void ens__admin_rec_free(arec *r)
{
    for (size_t i = 0; i < admin_state.n; i++) {
        if (admin_state.recs[i] == r) {
            memmove(&admin_state.recs[i], &admin_state.recs[i + 1],
                    (admin_state.n - i - 1) * sizeof(admin_state.recs[0]));
            admin_state.n--;
            break;
        }
    }
    ens__admin_name_forget(r->addr); /* it ended for good: its name is free */
    if (r == admin_state.gateway)
        admin_state.gateway = NULL; /* its process is reaped and replaced */
    if (r->foreign)
        admin_state.n_foreign--;
    ens__admin_ctl_drop_all(r);
    ens__admin_close_ctl(r);
    ens__admin_ep_set(&r->ep_tx, &r->ep_tx_ev, -1, 0, 0);
    if (r->tx >= 0)
        close(r->tx);
    for (size_t i = 0; i < r->n_rx; i++)
        close(r->rx[i].fd);
    if (r->stage != NULL)
        munmap(r->stage, r->stage_len);
    if (r->stage_fd >= 0)
        close(r->stage_fd);
    r->stage_fd = -1;
    free(r->rx);
    r->rx = NULL;
    free(r->out);
    r->out = NULL;
    free(r->arg);
    free(r->init_why);
    r->init_why = NULL;
    r->arg = NULL;
    if (r->map_id != 0 && ens__idmap_get(&rec_by_id, r->map_id) == r)
        ens__idmap_del(&rec_by_id, r->map_id);
    ens__admin_rec_set_pid(r, 0);
    if (r->hello_by != 0)
        ens__admin_n_hello--;
    r->hello_by = 0;
    if (r->restart_at != 0)
        admin_state.n_backoff--;
    r->restart_at = 0;
    /* Events of this turn may still name it: freed when the turn ends. */
    r->gone = true;
    r->next_gone = graveyard;
    graveyard = r;
}

/* Bring the epoll set in line with the records touched this turn. */
void ens__admin_sync_dirty(void)
{
    for (size_t i = 0; i < n_dirty; i++) {
        arec *r = dirty_recs[i];
        if (r->gone)
            continue;
        r->ep_dirty = false;
        ens__admin_ep_sync(r);
    }
    n_dirty = 0;
}

/* Free the records that ended this turn. */
void ens__admin_bury(void)
{
    while (graveyard != NULL) {
        arec *r = graveyard;
        graveyard = r->next_gone;
        free(r);
    }
}
