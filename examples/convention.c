/*
 * examples/convention.c - one application on three systems of a convention.
 *
 * Three systems, "lab-a", "lab-b" and "lab-c", join one convention on a
 * NATS server. Only lab-c has a GPU: it starts with the capability gpu=1.
 * From lab-a's outside program the example spawns a Trainer, whose
 * definition requires "gpu": placement puts it on lab-c, and lab-a talks
 * to it as to any actor. Then it spawns an Auditor that requires "tpu",
 * which no system has: the spawn fails with ENS_ENOPLACE, and ens_errmsg()
 * gives each member's reason (the journal has the same as a no_place row).
 *
 * Here the three systems run in one program on one host, to keep the
 * example short; on real hosts each runs its own program (with the same
 * actor definitions registered) pointed at the same NATS servers.
 *
 * NATS: ENSEMBLE_NATS_URL if it is set, else a private nats-server (Debian
 * package nats-server, with JetStream) started on a free loopback port and
 * stopped at the end.
 */
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ensemble/ensemble.h>

/* ---- the actors ---------------------------------------------------- */

/* A Trainer answers "train" with where it ran. */
static int trainer_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    const ens_string_v *s = ens_string_of(m);
    if (s == NULL || strcmp(s->text, "train") != 0)
        return 0;
    char self[ENS_ADDR_STRLEN], text[96];
    ens_addr_format(ens_self(c), self, sizeof(self));
    snprintf(text, sizeof(text), "model trained by %s", self);
    return ens_string_reply(c, &(ens_string_v){text});
}

static const char *const needs_gpu[] = {"gpu", NULL};
static const ens_actor_def trainer_def = {
    .name = "lab.Trainer", .receive = trainer_receive, .requirements = needs_gpu};

static const char *const needs_tpu[] = {"tpu", NULL};
static const ens_actor_def auditor_def = {
    .name = "lab.Auditor", .receive = trainer_receive, .requirements = needs_tpu};

/* ---- a private NATS server when none is given ------------------------ */

static pid_t nats_pid;
static char nats_dir[] = "/tmp/ens-example-nats-XXXXXX";
static char nats_url[64];

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void nats_stop(void)
{
    if (nats_pid > 0) {
        kill(nats_pid, SIGTERM);
        while (waitpid(nats_pid, NULL, 0) < 0 && errno == EINTR)
            ;
        nats_pid = 0;
        nftw(nats_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    }
}

/* Start nats-server on a port it chooses and read that port back from the
 * ports file it writes; wait up to 10 s for it. */
static const char *nats_start(void)
{
    if (mkdtemp(nats_dir) == NULL)
        return NULL;
    char store[96];
    snprintf(store, sizeof(store), "%s/js", nats_dir);
    fflush(NULL);
    nats_pid = fork();
    if (nats_pid == 0) {
        char log[96];
        snprintf(log, sizeof(log), "%s/nats-server.log", nats_dir);
        if (freopen(log, "w", stdout) == NULL || dup2(fileno(stdout), 2) < 0)
            _exit(126);
        /* Debian puts it in /usr/sbin, which a user's PATH may lack. */
        const char *const programs[] = {"nats-server", "/usr/sbin/nats-server"};
        for (size_t i = 0; i < 2; i++)
            execlp(programs[i], "nats-server", "-js", "-a", "127.0.0.1", "-p", "-1", "-sd", store,
                   "--ports_file_dir", nats_dir, (char *)NULL);
        _exit(127);
    }
    if (nats_pid < 0)
        return NULL;
    char ports[128];
    snprintf(ports, sizeof(ports), "%s/nats-server_%d.ports", nats_dir, (int)nats_pid);
    for (int waited_ms = 0; waited_ms < 10000; waited_ms += 20) {
        FILE *f = fopen(ports, "r");
        if (f != NULL) {
            char text[256] = "";
            size_t n = fread(text, 1, sizeof(text) - 1, f);
            fclose(f);
            text[n] = '\0';
            const char *url = strstr(text, "nats://");
            const char *end = url != NULL ? strchr(url, '"') : NULL;
            if (end != NULL && (size_t)(end - url) < sizeof(nats_url)) {
                snprintf(nats_url, sizeof(nats_url), "%.*s", (int)(end - url), url);
                return nats_url;
            }
        }
        if (waitpid(nats_pid, NULL, WNOHANG) == nats_pid) {
            nats_pid = 0;
            return NULL;
        }
        nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL); /* a file to appear: no event */
    }
    return NULL;
}

/* ---- the systems ---------------------------------------------------- */

static int start(const char *name, const char *url, const char *caps, ens_system **out)
{
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = name;
    o.journal_path = ":memory:";
    o.convention.servers = url;
    o.convention.name = "lab";
    o.convention.capabilities = caps;
    int rc = ens_system_start(&o, out);
    if (rc != 0)
        fprintf(stderr, "convention: %s did not start: %s\n", name, ens_strerror(rc));
    return rc;
}

int main(void)
{
    if (ens_actor_register(&trainer_def) < 0 || ens_actor_register(&auditor_def) < 0)
        return 1;
    const char *url = getenv("ENSEMBLE_NATS_URL");
    if (url == NULL || url[0] == '\0') {
        url = nats_start();
        if (url == NULL) {
            fprintf(stderr, "convention: no ENSEMBLE_NATS_URL, and nats-server (Debian package "
                            "nats-server) could not be started\n");
            return 1;
        }
    }
    printf("NATS at %s\n", url);

    ens_system *lab_c = NULL, *lab_b = NULL, *lab_a = NULL;
    int rc = start("lab-c", url, "gpu=1\nzone=eu", &lab_c);
    if (rc == 0)
        rc = start("lab-b", url, "zone=us", &lab_b);
    if (rc == 0)
        rc = start("lab-a", url, NULL, &lab_a);
    if (rc == 0) {
        ens_ctx *out = ens_system_ctx(lab_a);
        printf("lab-a is node %u, lab-b node %u, lab-c node %u\n", (unsigned)ens_self(out).node,
               (unsigned)ens_self(ens_system_ctx(lab_b)).node,
               (unsigned)ens_self(ens_system_ctx(lab_c)).node);

        ens_addr trainer;
        ens_msg *reply = NULL;
        rc = ens_spawn(out, &trainer_def, NULL, NULL, &trainer);
        if (rc == 0)
            rc = ens_string_ask(out, trainer, &(ens_string_v){"train"}, 5000, &reply);
        if (rc == 0) {
            uint32_t node = trainer.node;
            const char *where = node == ens_self(ens_system_ctx(lab_c)).node   ? "lab-c"
                                : node == ens_self(ens_system_ctx(lab_b)).node ? "lab-b"
                                : node == ens_self(out).node                   ? "lab-a"
                                                                               : "?";
            printf("lab-a spawned a lab.Trainer (requires gpu): it runs on %s: %s\n", where,
                   ens_string_of(reply)->text);
            if (strcmp(where, "lab-c") != 0)
                rc = 1;
        } else
            fprintf(stderr, "convention: the trainer: %s (%s)\n", ens_strerror(rc), ens_errmsg());
        ens_msg_free(reply);

        ens_addr auditor;
        int no = ens_spawn(out, &auditor_def, NULL, NULL, &auditor);
        printf("lab-a spawned a lab.Auditor (requires tpu): %s\n  %s\n", ens_err_name(no),
               ens_errmsg());
        if (rc == 0 && no != ENS_ENOPLACE)
            rc = 1;
    }
    /* Each system leaves the convention in order: the others see it "left". */
    ens_system_stop(lab_a, 5000);
    ens_system_stop(lab_b, 5000);
    ens_system_stop(lab_c, 5000);
    nats_stop();
    return rc == 0 ? 0 : 1;
}
