/* hello.c - a WASI command for the `wasp run` tests: echoes its arguments and
 * environment, writes to stderr, reads stdin, and exits with the code in argv[1]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern char **environ;

int main(int argc, char **argv)
{
    char line[128];
    struct timespec ts;

    printf("argc=%d", argc);
    for (int i = 1; i < argc; i++)
        printf(" [%s]", argv[i]);
    printf("\n");
    for (char **e = environ; *e != NULL; e++)
        printf("env %s\n", *e);
    if (fgets(line, sizeof(line), stdin) != NULL)
        printf("stdin %s", line);
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0 || ts.tv_sec + ts.tv_nsec == 0)
        printf("no clock\n");
    fprintf(stderr, "to stderr\n");
    return argc > 1 ? atoi(argv[1]) : 0;
}
