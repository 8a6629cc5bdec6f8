/*
 * examples/hello_goodbye.c - actors creating actors, after Thespian's
 * hello-goodbye example.
 *
 * Hello spawns a Goodbye child in init. Asked "hi", Hello does not answer:
 * it forwards the request, and Goodbye's reply goes straight back to the
 * asker, because ens_forward keeps the original sender and correlation.
 * Asked "who", Hello answers itself. The outside asks both and prints each
 * answer with the address of the actor that gave it.
 */
#include <stdio.h>
#include <string.h>

#include <ensemble/ensemble.h>

static bool is_text(const ens_msg *m, const char *text)
{
    const ens_string_v *s = ens_string_of(m);
    return s != NULL && s->text != NULL && strcmp(s->text, text) == 0;
}

static int goodbye_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    if (!is_text(m, "hi"))
        return 0; /* e.g. the exit request at shutdown */
    return ens_string_reply(c, &(ens_string_v){"Hello, World! ... Goodbye"});
}

static int hello_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)arg;
    static const ens_actor_def goodbye = {.name = "example.Goodbye", .receive = goodbye_receive};
    return ens_spawn(c, &goodbye, NULL, NULL, state); /* state: Goodbye's address */
}

static int hello_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    if (is_text(m, "hi"))
        return ens_forward(c, *(ens_addr *)state, m);
    if (is_text(m, "who"))
        return ens_string_reply(c, &(ens_string_v){"Hello, parent of Goodbye"});
    return 0;
}

int main(int argc, char **argv)
{
    static const ens_actor_def hello_def = {.name = "example.Hello",
                                            .state_size = sizeof(ens_addr),
                                            .init = hello_init,
                                            .receive = hello_receive};
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = argc > 1 && strcmp(argv[1], "inproc") == 0 ? ENS_BASE_INPROC : ENS_BASE_PROCESS;
    ens_system *sys;
    ens_addr hello;
    if (ens_system_start(&o, &sys) != 0)
        return 1;
    ens_ctx *out = ens_system_ctx(sys);
    int rc = ens_spawn(out, &hello_def, NULL, NULL, &hello);

    char *questions[] = {"hi", "who"};
    for (int i = 0; i < 2 && rc == 0; i++) {
        ens_msg *r = NULL;
        rc = ens_string_ask(out, hello, &(ens_string_v){questions[i]}, 1000, &r);
        char who[ENS_ADDR_STRLEN] = "nobody";
        if (rc == 0)
            ens_addr_format(ens_msg_sender(r), who, sizeof(who));
        const ens_string_v *s = rc == 0 ? ens_string_of(r) : NULL;
        printf("%-3s -> %s (from %s)\n", questions[i], s ? s->text : ens_strerror(rc), who);
        ens_msg_free(r);
    }
    return ens_system_close(sys, 1000) == 0 && rc == 0 ? 0 : 1;
}
