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

struct json_t;

/*
 * The traffic-file reader of `wasp replay`: parses text (len bytes of JSON; duplicate keys
 * are refused) and checks the shape of every packet before anything runs.
 * @return the packets (a JSON array; the caller owns the reference), or NULL with
 *         ":LINE:COLUMN: what" (bad JSON) or ": packet N: what" in err, ready to follow
 *         the file's name in a message.
 */
struct json_t *rp_traffic_parse(const char *text, size_t len, char *err, size_t errlen);

#endif /* WASP_REPLAY_REPLAY_H */
