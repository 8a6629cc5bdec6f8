/*
 * tests/install/consumer.c - a program outside the tree that uses an
 * installed ensemble, built by tests/install/run.sh through pkg-config and
 * through find_package(ensemble). Exit status 0 means the headers, the
 * library and the build metadata all work together.
 */
#include <stdio.h>
#include <string.h>

#include <ensemble/ensemble.h>

int main(void)
{
    ens_addr a = {.id = 42, .node = 7, .spare = 0};
    ens_addr back;
    char buf[ENS_ADDR_STRLEN];

    if (strcmp(ens_strerror(ENS_ETIMEDOUT), "unknown error") == 0) {
        fprintf(stderr, "consumer: ens_strerror does not know ENS_ETIMEDOUT\n");
        return 1;
    }
    if (ens_addr_format(a, buf, sizeof(buf)) != (int)strlen("ens:7/42") ||
        strcmp(buf, "ens:7/42") != 0) {
        fprintf(stderr, "consumer: ens_addr_format gave '%s'\n", buf);
        return 1;
    }
    if (ens_addr_parse(buf, &back) != 0 || !ens_addr_equal(a, back)) {
        fprintf(stderr, "consumer: ens_addr_parse did not round-trip '%s'\n", buf);
        return 1;
    }
    /* The header this program was compiled with and the library the
     * loader found are the same install. */
    if (ens_version() != ENS_VERSION_NUMBER ||
        strcmp(ens_version_string(), ENS_VERSION_STRING) != 0) {
        fprintf(stderr, "consumer: header %s (%d), library %s (%d)\n", ENS_VERSION_STRING,
                ENS_VERSION_NUMBER, ens_version_string(), ens_version());
        return 1;
    }
    printf("consumer: ok (%s, %s, ensemble %s)\n", buf, ens_err_name(ENS_ETIMEDOUT),
           ens_version_string());
    return 0;
}
