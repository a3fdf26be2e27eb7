/*
 * replay_driver.c - runs `wasp replay` (wasp_cmd_replay) as its own executable, so the
 * replay tests do not depend on the rest of the `wasp` tool.
 */
#include "replay.h"

int main(int argc, char **argv)
{
    argv[0] = "replay";
    return wasp_cmd_replay(argc, argv);
}
