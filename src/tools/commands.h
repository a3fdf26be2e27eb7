/*
 * commands.h - the subcommands of the `wasp` tool and the helpers they share.
 *
 * Each subcommand is `int wasp_cmd_NAME(int argc, char **argv)` with argv[0] the
 * subcommand's name; it returns the process exit status. To add one, implement it in
 * src/tools/NAME.c, declare it here and add a row to the table in wasp.c.
 */
#ifndef WASP_TOOLS_COMMANDS_H
#define WASP_TOOLS_COMMANDS_H

#include <stddef.h>
#include <stdint.h>

/* Exit status for usage errors and for modules that cannot be loaded or linked. */
#define WASP_EXIT_USAGE 2
#define WASP_EXIT_ERROR 1
/* Exit status of `wasp run` when the guest traps (as a process killed by SIGABRT). */
#define WASP_EXIT_TRAP 134

int wasp_cmd_run(int argc, char **argv);
int wasp_cmd_validate(int argc, char **argv);

/*
 * Reads the whole file at path into a malloc'd buffer (*buf, *len; caller frees).
 * Returns 0, or -1 with errno set.
 */
int wasp_read_file(const char *path, uint8_t **buf, size_t *len);

#endif /* WASP_TOOLS_COMMANDS_H */
