/*
 * replay.h - `wasp replay`: runs proxy-wasm plugins on recorded HTTP traffic, offline,
 * through the same hostcalls/ code the daemon uses.
 */
#ifndef WASP_REPLAY_REPLAY_H
#define WASP_REPLAY_REPLAY_H

/*
 * The `wasp replay` subcommand (argv[0] is "replay"):
 *   wasp replay --plugin FILE.wasm [--config STR|@file] [--root-id ID] [--vm-id ID]
 *               [--plugin ...] --traffic FILE.json [--callouts FILE.json] [--json]
 * Prints what each plugin did per request. Returns 0, 1 when a plugin failed (start,
 * configure or a trap), 2 for usage errors and unreadable/malformed input.
 */
int wasp_cmd_replay(int argc, char **argv);

#endif /* WASP_REPLAY_REPLAY_H */
