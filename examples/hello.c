/*
 * examples/hello.c - the smallest complete ensemble program.
 *
 * It starts a system, spawns one Hello actor, asks it "hello" from the
 * outside and prints the reply, then shuts the system down. The actor only
 * ever sees messages: a string comes in, ens_reply sends a string back to
 * whoever asked. Run it with no argument for the in-process base, or with
 * "process" for one OS process per actor (not available yet).
 */
#include <stdio.h>
#include <string.h>

#include <ensemble/ensemble.h>

static int hello_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    const ens_string_v *s = ens_string_of(m);
    if (s == NULL || s->text == NULL || strcmp(s->text, "hello") != 0)
        return 0; /* not for us: ignore it */
    return ens_string_reply(c, &(ens_string_v){"Hello, World!"});
}

static const ens_actor_def hello_def = {.name = "example.Hello", .receive = hello_receive};

int main(int argc, char **argv)
{
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = argc > 1 && strcmp(argv[1], "process") == 0 ? ENS_BASE_PROCESS : ENS_BASE_INPROC;
    ens_system *sys;
    int rc = ens_system_start(&o, &sys);
    if (rc != 0) {
        fprintf(stderr, "hello: cannot start a system: %s\n", ens_strerror(rc));
        return 1;
    }
    ens_ctx *out = ens_system_ctx(sys);

    ens_addr hello;
    ens_msg *reply = NULL;
    rc = ens_spawn(out, &hello_def, NULL, NULL, &hello);
    if (rc == 0)
        rc = ens_string_ask(out, hello, &(ens_string_v){"hello"}, 1000, &reply);
    if (rc == 0)
        printf("%s\n", ens_string_of(reply)->text);
    else
        fprintf(stderr, "hello: %s\n", ens_strerror(rc));
    ens_msg_free(reply);

    if (ens_system_close(sys, 1000) != 0)
        return 1;
    return rc == 0 ? 0 : 1;
}
