/*
 * examples/crash_recovery.c - what happens when an actor's process dies.
 *
 * A Worker counts messages. "segv" makes it dereference NULL the first time
 * it sees the message; "abort" makes it abort every time. Messages queued
 * behind them are not lost: the worker is restarted at the same address,
 * the message in hand is delivered once more (attempt 2), and a message
 * that kills it twice comes back as a PoisonMessage. Every failure is
 * printed as the runtime reports it, and recorded in the failure journal
 * given as the first argument (then read it with `ens journal --db PATH`).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ensemble/ensemble.h>

static volatile int *volatile nowhere; /* stays NULL */

static int worker_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    int64_t *handled = st;
    const ens_string_v *s = ens_string_of(m);
    if (s == NULL)
        return 0;
    if (strcmp(s->text, "segv") == 0 && ens_msg_attempt(m) == 1)
        *nowhere = 1;
    if (strcmp(s->text, "abort") == 0)
        abort();
    char line[128];
    snprintf(line, sizeof(line), "%s (attempt %u, process %d, #%lld in this process)", s->text,
             ens_msg_attempt(m), (int)getpid(), (long long)++*handled);
    return ens_string_tell(c, ens_sender(c), &(ens_string_v){line});
}

static const ens_actor_def worker_def = {
    .name = "demo.Worker", .state_size = sizeof(int64_t), .receive = worker_receive};

static void print_event(const ens_event *ev, void *arg)
{
    (void)arg;
    char who[ENS_ADDR_STRLEN];
    ens_addr_format(ev->actor, who, sizeof(who));
    printf("   event %-8s %s %s signal %d: %s\n", ens_event_kind_name(ev->kind), ev->actor_type,
           who, ev->signal, ev->reason);
}

int main(int argc, char **argv)
{
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT; /* the process base */
    o.on_event = print_event;
    o.log_level = ENS_LOG_ERROR;
    o.journal_path = argc > 1 ? argv[1] : ""; /* where every failure is recorded */
    ens_system *sys;
    ens_addr w;
    if (ens_system_start(&o, &sys) != 0 ||
        ens_spawn(ens_system_ctx(sys), &worker_def, NULL, NULL, &w) != 0)
        return 1;
    ens_ctx *out = ens_system_ctx(sys);
    const char *script[] = {"one", "segv", "two", "abort", "three"};
    for (size_t i = 0; i < 5; i++)
        ens_string_tell(out, w, &(ens_string_v){(char *)script[i]});
    for (int got = 0; got < 5;) {
        ens_msg *m = NULL;
        if (ens_listen(out, 10000, &m) != 0)
            return 1;
        const ens_string_v *s = ens_string_of(m);
        const ens_poison_v *p = ens_msg_value(m, &ens_msg_poison);
        if (s != NULL)
            printf("reply: %s\n", s->text);
        else if (p != NULL)
            printf("poison: %s\n", p->detail);
        got += s != NULL || p != NULL;
        ens_msg_free(m);
    }
    ens_status *st = NULL;
    if (ens_system_status(sys, 5000, &st) == 0) {
        const ens_actor_status *a = ens_status_at(st, 0);
        printf("status: %s restarts %u, handled %llu\n", a->type, a->restarts,
               (unsigned long long)a->handled);
        ens_status_free(st);
    }
    return ens_system_close(sys, 5000) == 0 ? 0 : 1;
}
