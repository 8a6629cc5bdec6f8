/*
 * core/runtime/endpoint.c - the outside program's endpoint (see core/runtime/endpoint.h),
 * shared by the inproc base and the process base's starting program.
 */
#include <stdlib.h>

#include "core/runtime/endpoint.h"
#include "core/wire/msgtype.h"
#include "ensemble/error.h"

struct ens_endpoint_item {
    ens_endpoint_item *next;
    ens_msg *m;
};

void ens__endpoint_accept(ens_system *s, ens_endpoint *e, uint8_t *frame, size_t len)
{
    ens_msg *m = NULL;
    int rc = ens__msg_from_frame(frame, len, s->opts.max_frame_bytes, &m);
    if (rc == ENS_ENOMEM) /* the row below names it */
        ens__alloc_failed(s, "a message to this program could not be decoded and was lost");
    if (rc < 0) {
        ens_event ev = {.kind = ENS_EV_BADFRAME,
                        .actor = s->outside.self,
                        .error = rc,
                        .reason = "a message to the outside endpoint could not be decoded"};
        ens__event(s, &ev);
        return;
    }
    if ((m->hdr.flags & ENS_FRAME_SYSTEM) && m->hdr.type_id == ens__msg_node_down.id) {
        const ens__node_down_v *v = m->value;
        if (v != NULL && e->ask_corr != 0 && e->ask_reply == NULL && v->node != 0 &&
            v->node == e->ask_node)
            e->ask_lost = ENS_EUNREACHABLE;
        ens_msg_free(m);
        return;
    }
    if ((m->hdr.flags & ENS_FRAME_REPLY) && m->hdr.corr != 0) {
        if (ens__reply_is_system(&m->hdr)) {
            /* The outside never takes a system message as an answer (an
             * exit request, a notice, a wake-up sent back with ens_reply):
             * the ask goes on waiting for a real one. */
            char from[ENS_ADDR_STRLEN];
            ens_addr_format(m->hdr.sender, from, sizeof(from));
            ens__log(s, NULL, ENS_LOG_WARN,
                     "%s from %s came as a reply and was dropped: a system message is never "
                     "an answer",
                     m->info != NULL ? m->info->type->name : "a system message", from);
            ens_msg_free(m);
            return;
        }
        if (m->hdr.corr == e->ask_corr && e->ask_reply == NULL)
            e->ask_reply = m;
        else
            ens_msg_free(m); /* the answer of an ask that timed out: expected */
        return;
    }
    ens_endpoint_item *it = malloc(sizeof(*it));
    if (it == NULL) {
        ens__alloc_failed(s, "a message to this program could not be queued and was lost");
        ens_event ev = {.kind = ENS_EV_DEAD_LETTER,
                        .actor = s->outside.self,
                        .error = ENS_ENOMEM,
                        .reason = "no memory to queue a message for the outside program"};
        ens__event(s, &ev);
        ens_msg_free(m);
        return;
    }
    *it = (ens_endpoint_item){NULL, m};
    if (e->tail != NULL)
        e->tail->next = it;
    else
        e->head = it;
    e->tail = it;
}

uint64_t ens__endpoint_expect(ens_system *s, ens_endpoint *e)
{
    ens_msg_free(e->ask_reply);
    e->ask_reply = NULL;
    e->ask_node = 0;
    e->ask_lost = 0;
    e->ask_corr = ++s->next_corr;
    return e->ask_corr;
}

int ens__endpoint_answer(ens_endpoint *e, int rc, ens_msg **reply)
{
    ens_msg *m = e->ask_reply;
    const int lost = e->ask_lost;
    e->ask_reply = NULL;
    e->ask_corr = 0;
    e->ask_node = 0;
    e->ask_lost = 0;
    *reply = NULL;
    if (m == NULL && lost != 0 && (rc == 0 || rc == ENS_ETIMEDOUT))
        return lost;
    if (rc < 0 || m == NULL) {
        ens_msg_free(m);
        return rc < 0 ? rc : ENS_ETIMEDOUT;
    }
    if (m->hdr.flags & ENS_FRAME_ERROR) {
        rc = m->hdr.error < 0 ? m->hdr.error : ENS_EBADFRAME;
        *reply = m; /* its details: the poison, why nobody was there, ... */
        return rc;
    }
    *reply = m;
    return 0;
}

ens_msg *ens__endpoint_pop(ens_endpoint *e)
{
    ens_endpoint_item *it = e->head;
    if (it == NULL)
        return NULL;
    e->head = it->next;
    if (e->head == NULL)
        e->tail = NULL;
    ens_msg *m = it->m;
    free(it);
    return m;
}

void ens__endpoint_clear(ens_endpoint *e)
{
    ens_msg *m;
    while ((m = ens__endpoint_pop(e)) != NULL)
        ens_msg_free(m);
    ens_msg_free(e->ask_reply);
    e->ask_reply = NULL;
    e->ask_corr = 0;
    e->ask_node = 0;
    e->ask_lost = 0;
}
