/*
 * runner.c - runs the official spec tests (wast2json output) against the engine.
 *
 * Usage: wasp_spec_runner --spectest SPECTEST.wasm [--xfail FILE] [--summary] [-v]
 *                         FILE.json...
 * Each command of a file is executed in order through the public API (engine/wasm.h)
 * and counted as passed, failed or skipped (text-format modules). The
 * commands run in a child process that reports each result over a pipe: when a command
 * crashes the engine or times out, it is counted as failed and a new child replays the
 * earlier commands (to rebuild the same state) and goes on after it, so one crash never
 * loses a file's counts. A file's expected number of failures comes from the xfail
 * list; the exit status is 0 only when the failures equal it exactly.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "wasm.h"

/* Seconds one command may run before it counts as hung. */
#define COMMAND_TIMEOUT_S 30
#define MAX_VALUES 64

enum result { RES_NONE = 0, RES_PASS, RES_FAIL, RES_SKIP };

struct counts {
    long passed, failed, skipped;
};

struct options {
    const char *spectest; /* spectest.wasm */
    const char *xfail;    /* xfail list, or NULL */
    bool summary;
    bool verbose;
};

/* ---- Reporting ---------------------------------------------------------------------- */

/* A failure message for the command being executed; printed by the caller. */
struct cmd_ctx {
    char msg[1024];
};

static enum result failf(struct cmd_ctx *cx, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cx->msg, sizeof(cx->msg), fmt, ap);
    va_end(ap);
    return RES_FAIL;
}

static enum result skipf(struct cmd_ctx *cx, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cx->msg, sizeof(cx->msg), fmt, ap);
    va_end(ap);
    return RES_SKIP;
}

/* ---- The state of one script: modules, instances, names, the linker ----------------- */

struct script {
    char dir[4096]; /* directory of the .json: module files are relative to it */
    wasm_linker_t *linker;
    wasm_module_t **modules; /* every loaded module, freed last */
    size_t nmodules, capmodules;
    wasm_instance_t **instances; /* every created instance (incl. failed starts) */
    size_t ninstances, capinstances;
    const char **names; /* names[i] names instances[i] ("$M"), or NULL */
    wasm_instance_t *current;
};

static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
    void *q;

    if (n < *cap)
        return p;
    *cap = *cap ? *cap * 2 : 16;
    q = realloc(p, *cap * size);
    if (q == NULL) {
        fprintf(stderr, "spec runner: out of memory\n");
        exit(2);
    }
    return q;
}

static void keep_module(struct script *s, wasm_module_t *m)
{
    s->modules = grow(s->modules, &s->capmodules, s->nmodules, sizeof(*s->modules));
    s->modules[s->nmodules++] = m;
}

/* Instances are kept to the end: a failed instantiation can leave its functions in a
 * shared table (linking.wast), so none may be freed while the script runs. */
static void keep_instance(struct script *s, wasm_instance_t *inst, const char *name)
{
    size_t cap = s->capinstances;

    s->instances = grow(s->instances, &s->capinstances, s->ninstances,
                        sizeof(*s->instances));
    s->names = grow(s->names, &cap, s->ninstances, sizeof(*s->names));
    s->names[s->ninstances] = name;
    s->instances[s->ninstances++] = inst;
}

static wasm_instance_t *find_instance(struct script *s, const char *name)
{
    if (name == NULL)
        return s->current;
    for (size_t i = s->ninstances; i-- > 0;)
        if (s->names[i] != NULL && strcmp(s->names[i], name) == 0)
            return s->instances[i];
    return NULL;
}

static int spectest_print(wasm_instance_t *inst, uint64_t *slots, void *env)
{
    return WASM_OK;
}

static const struct {
    const char *name, *sig;
} spectest_funcs[] = {
    {"print", "()"},           {"print_i32", "(i)"},      {"print_i64", "(I)"},
    {"print_f32", "(f)"},      {"print_f64", "(F)"},      {"print_i32_f32", "(if)"},
    {"print_f64_f64", "(FF)"},
};

static wasm_module_t *load_file(const char *path, enum wasm_status *status, char *err,
                                size_t errlen)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long len;
    wasm_module_t *m = NULL;

    *status = WASM_ERR_ARG;
    snprintf(err, errlen, "cannot read %s", path);
    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto close;
    buf = malloc((size_t)len + 1);
    if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len)
        goto close;
    err[0] = '\0';
    m = wasm_module_load(buf, (size_t)len, status, err, errlen);
close:
    free(buf);
    fclose(f);
    return m;
}

/* Sets up the linker with the spectest module. Returns 0 or -1 (reported). */
static int script_init(struct script *s, const char *json_path, const char *spectest)
{
    const char *slash = strrchr(json_path, '/');
    enum wasm_status status;
    char err[512];
    wasm_module_t *m;
    wasm_instance_t *inst = NULL;

    memset(s, 0, sizeof(*s));
    if (slash == NULL)
        snprintf(s->dir, sizeof(s->dir), ".");
    else
        snprintf(s->dir, sizeof(s->dir), "%.*s", (int)(slash - json_path), json_path);
    s->linker = wasm_linker_new();
    if (s->linker == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(spectest_funcs) / sizeof(spectest_funcs[0]); i++)
        if (wasm_linker_define_func(s->linker, "spectest_host", spectest_funcs[i].name,
                                    spectest_funcs[i].sig, spectest_print, NULL) != WASM_OK)
            return -1;
    m = load_file(spectest, &status, err, sizeof(err));
    if (m == NULL) {
        fprintf(stderr, "spec runner: %s: %s\n", spectest, err);
        return -1;
    }
    keep_module(s, m);
    if (wasm_instance_new(m, s->linker, NULL, &inst, err, sizeof(err)) != WASM_OK) {
        fprintf(stderr, "spec runner: cannot instantiate %s: %s\n", spectest, err);
        if (inst != NULL)
            keep_instance(s, inst, NULL);
        return -1;
    }
    keep_instance(s, inst, NULL);
    return wasm_linker_define_instance(s->linker, "spectest", inst) == WASM_OK ? 0 : -1;
}

static void script_free(struct script *s)
{
    for (size_t i = s->ninstances; i-- > 0;)
        wasm_instance_free(s->instances[i]);
    if (s->linker != NULL)
        wasm_linker_free(s->linker);
    for (size_t i = s->nmodules; i-- > 0;)
        wasm_module_free(s->modules[i]);
    free(s->instances);
    free(s->names);
    free(s->modules);
}

/* ---- Values ------------------------------------------------------------------------- */

enum match {
    MATCH_BITS,      /* exact bit pattern */
    MATCH_NAN_CANON, /* nan:canonical */
    MATCH_NAN_ARITH, /* nan:arithmetic */
    MATCH_NONNULL,   /* (ref.func) / (ref.extern) without an index: any non-null */
};

struct value {
    uint8_t type; /* enum wasm_valtype */
    enum match match;
    uint64_t bits[2]; /* a v128 is bits[0] (lanes from 0) and bits[1] */
    /* v128 only: the script's lane shape and what each lane must match. */
    unsigned lane_bits; /* 8, 16, 32 or 64 */
    bool lane_float;
    enum match lanes[16];
};

static const char *match_name(enum match m)
{
    return m == MATCH_NAN_CANON   ? "nan:canonical"
           : m == MATCH_NAN_ARITH ? "nan:arithmetic"
                                  : "non-null";
}

/* Lane i (of lane_bits bits) of the v128 bits[2]. */
static uint64_t lane_get(const uint64_t bits[2], unsigned lane_bits, unsigned i)
{
    unsigned at = i * lane_bits;
    uint64_t v = bits[at / 64] >> (at % 64);

    return lane_bits == 64 ? v : v & ((1ull << lane_bits) - 1);
}

static void lane_set(uint64_t bits[2], unsigned lane_bits, unsigned i, uint64_t v)
{
    unsigned at = i * lane_bits;

    if (lane_bits < 64)
        v &= (1ull << lane_bits) - 1;
    bits[at / 64] |= v << (at % 64);
}

/* {"type": "v128", "lane_type": "i32", "value": ["1", "nan:canonical", ...]}. */
static int parse_v128(json_t *j, struct value *v, struct cmd_ctx *cx)
{
    const char *lane = json_string_value(json_object_get(j, "lane_type"));
    json_t *lanes = json_object_get(j, "value");
    unsigned n;

    if (lane == NULL || !json_is_array(lanes))
        return skipf(cx, "v128 value without lanes"), -1;
    if (strcmp(lane, "i8") == 0)
        v->lane_bits = 8;
    else if (strcmp(lane, "i16") == 0)
        v->lane_bits = 16;
    else if (strcmp(lane, "i32") == 0 || strcmp(lane, "f32") == 0)
        v->lane_bits = 32;
    else if (strcmp(lane, "i64") == 0 || strcmp(lane, "f64") == 0)
        v->lane_bits = 64;
    else
        return skipf(cx, "v128 lane type %s", lane), -1;
    v->lane_float = lane[0] == 'f';
    n = 128 / v->lane_bits;
    if (json_array_size(lanes) != n)
        return skipf(cx, "v128 value with %zu lanes of %s", json_array_size(lanes), lane), -1;
    for (unsigned i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(lanes, i));

        v->lanes[i] = MATCH_BITS;
        if (s == NULL)
            return skipf(cx, "v128 lane is not a string"), -1;
        if (strcmp(s, "nan:canonical") == 0)
            v->lanes[i] = MATCH_NAN_CANON;
        else if (strcmp(s, "nan:arithmetic") == 0)
            v->lanes[i] = MATCH_NAN_ARITH;
        else
            lane_set(v->bits, v->lane_bits, i, strtoull(s, NULL, 10));
    }
    return 0;
}

/*
 * Parses {"type": T, "value": V}. Host references (ref.extern N) are handle N+1, so that
 * handle 0 stays null. Returns 0, or -1 for a value the runner does not support.
 */
static int parse_value(json_t *j, struct value *v, struct cmd_ctx *cx)
{
    const char *type = json_string_value(json_object_get(j, "type"));
    json_t *jv = json_object_get(j, "value");
    const char *val = json_string_value(jv);

    memset(v, 0, sizeof(*v));
    v->match = MATCH_BITS;
    if (type == NULL)
        return skipf(cx, "value without a type"), -1;
    if (strcmp(type, "i32") == 0)
        v->type = WASM_I32;
    else if (strcmp(type, "i64") == 0)
        v->type = WASM_I64;
    else if (strcmp(type, "f32") == 0)
        v->type = WASM_F32;
    else if (strcmp(type, "f64") == 0)
        v->type = WASM_F64;
    else if (strcmp(type, "v128") == 0)
        v->type = WASM_V128;
    else if (strcmp(type, "funcref") == 0)
        v->type = WASM_FUNCREF;
    else if (strcmp(type, "externref") == 0)
        v->type = WASM_EXTERNREF;
    else
        return skipf(cx, "%s values are not supported", type), -1;

    if (v->type == WASM_V128)
        return parse_v128(j, v, cx);
    if (val == NULL) {
        if (v->type != WASM_FUNCREF && v->type != WASM_EXTERNREF)
            return skipf(cx, "%s value is not a string", type), -1;
        v->match = MATCH_NONNULL;
    } else if (strcmp(val, "nan:canonical") == 0) {
        v->match = MATCH_NAN_CANON;
    } else if (strcmp(val, "nan:arithmetic") == 0) {
        v->match = MATCH_NAN_ARITH;
    } else if (strcmp(val, "null") == 0) {
        v->bits[0] = 0;
    } else {
        v->bits[0] = strtoull(val, NULL, 10);
        if (v->type == WASM_EXTERNREF)
            v->bits[0] += 1;
        else if (v->type == WASM_FUNCREF)
            return skipf(cx, "funcref value %s", val), -1;
    }
    return 0;
}

static const char *type_name(uint8_t t)
{
    switch (t) {
    case WASM_I32: return "i32";
    case WASM_I64: return "i64";
    case WASM_F32: return "f32";
    case WASM_F64: return "f64";
    case WASM_V128: return "v128";
    case WASM_FUNCREF: return "funcref";
    case WASM_EXTERNREF: return "externref";
    default: return "?";
    }
}

/* v128 values print as their lanes in the script's shape (lane_bits, default 32). */
static void format_value(char *buf, size_t len, uint8_t type, const uint64_t *bits,
                         unsigned lane_bits)
{
    switch (type) {
    case WASM_I32:
        snprintf(buf, len, "i32:%" PRIu32 " (0x%08" PRIx32 ")", (uint32_t)bits[0],
                 (uint32_t)bits[0]);
        break;
    case WASM_F32:
        snprintf(buf, len, "f32:%.9g (0x%08" PRIx32 ")", wasm_slot_as_f32(bits[0]),
                 (uint32_t)bits[0]);
        break;
    case WASM_F64:
        snprintf(buf, len, "f64:%.17g (0x%016" PRIx64 ")", wasm_slot_as_f64(bits[0]), bits[0]);
        break;
    case WASM_V128: {
        size_t n = (size_t)snprintf(buf, len, "v128:i%ux%u", lane_bits, 128 / lane_bits);
        for (unsigned i = 0; i < 128 / lane_bits && n < len; i++)
            n += (size_t)snprintf(buf + n, len - n, " 0x%0*" PRIx64, (int)lane_bits / 4,
                                  lane_get(bits, lane_bits, i));
        break;
    }
    default:
        snprintf(buf, len, "%s:%" PRIu64 " (0x%016" PRIx64 ")", type_name(type), bits[0],
                 bits[0]);
        break;
    }
}

/* Does got (a scalar of `bits` bits, or a float lane) match want/m? */
static bool bits_match(enum match m, unsigned bits, uint64_t want, uint64_t got)
{
    bool f32 = bits == 32;
    uint64_t exp_mask = f32 ? 0x7f800000u : 0x7ff0000000000000u;
    uint64_t quiet = f32 ? 0x00400000u : 0x0008000000000000u;
    uint64_t frac = f32 ? 0x007fffffu : 0x000fffffffffffffu;

    switch (m) {
    case MATCH_BITS:
        return got == want;
    case MATCH_NAN_CANON:
        return (got & exp_mask) == exp_mask && (got & frac) == quiet;
    case MATCH_NAN_ARITH:
        return (got & exp_mask) == exp_mask && (got & quiet) != 0;
    case MATCH_NONNULL:
        return got != 0;
    }
    return false;
}

/* got points at the value's slots (two for a v128). */
static bool value_matches(const struct value *want, const uint64_t *got)
{
    if (want->type == WASM_V128) {
        for (unsigned i = 0; i < 128 / want->lane_bits; i++)
            if (!bits_match(want->lanes[i], want->lane_bits,
                            lane_get(want->bits, want->lane_bits, i),
                            lane_get(got, want->lane_bits, i)))
                return false;
        return true;
    }
    if (want->type == WASM_I32 || want->type == WASM_F32)
        return bits_match(want->match, 32, want->bits[0] & 0xffffffffu, got[0] & 0xffffffffu);
    return bits_match(want->match, 64, want->bits[0], got[0]);
}

/* ---- Actions ------------------------------------------------------------------------ */

struct outcome {
    wasm_instance_t *inst;
    int rc; /* WASM_OK or WASM_ERR_TRAP */
    uint32_t nresults;
    uint8_t types[MAX_VALUES];
    uint64_t slots[2 * MAX_VALUES]; /* one per value, two per v128 */
};

/* Runs an invoke/get action. Returns RES_PASS when it ran (trapped or not; see out). */
static enum result run_action(struct script *s, json_t *action, struct outcome *out,
                              struct cmd_ctx *cx)
{
    const char *type = json_string_value(json_object_get(action, "type"));
    const char *modname = json_string_value(json_object_get(action, "module"));
    const char *field = json_string_value(json_object_get(action, "field"));
    json_t *args = json_object_get(action, "args");
    wasm_instance_t *inst = find_instance(s, modname);
    const struct wasm_functype *ft;
    wasm_func_t *f;
    size_t nargs = json_array_size(args), k = 0;

    memset(out, 0, sizeof(*out));
    if (type == NULL || field == NULL)
        return failf(cx, "malformed action");
    if (json_string_length(json_object_get(action, "field")) != strlen(field))
        return skipf(cx, "export name with a NUL byte: the C API cannot name it");
    if (inst == NULL)
        return failf(cx, "no module %s to act on", modname ? modname : "(current)");
    out->inst = inst;
    if (strcmp(type, "get") == 0) {
        out->nresults = 1;
        if (wasm_instance_export_global(inst, field, &out->types[0], &out->slots[0]) !=
            WASM_OK)
            return failf(cx, "no exported global \"%s\"", field);
        if (out->types[0] == WASM_V128 &&
            wasm_instance_export_global_v128(inst, field, out->slots) != WASM_OK)
            return failf(cx, "cannot read v128 global \"%s\"", field);
        return RES_PASS;
    }
    if (strcmp(type, "invoke") != 0)
        return skipf(cx, "action %s", type);
    f = wasm_instance_export_func(inst, field);
    if (f == NULL)
        return failf(cx, "no exported function \"%s\"", field);
    ft = wasm_func_type(f);
    if (ft->nparams != nargs)
        return failf(cx, "\"%s\" takes %u arguments, the script passes %zu", field,
                     ft->nparams, nargs);
    if (ft->nparams > MAX_VALUES || ft->nresults > MAX_VALUES)
        return skipf(cx, "more than %d values", MAX_VALUES);
    for (size_t i = 0; i < nargs; i++) {
        struct value v;

        if (parse_value(json_array_get(args, i), &v, cx) != 0)
            return RES_SKIP;
        if (v.type != ft->params[i])
            return failf(cx, "argument %zu is %s, \"%s\" wants %s", i, type_name(v.type),
                         field, type_name(ft->params[i]));
        out->slots[k++] = v.bits[0];
        if (v.type == WASM_V128)
            out->slots[k++] = v.bits[1];
    }
    out->nresults = ft->nresults;
    memcpy(out->types, ft->results, ft->nresults);
    out->rc = wasm_call(inst, f, out->slots);
    return RES_PASS;
}

static enum result check_results(struct outcome *out, json_t *expected, struct cmd_ctx *cx)
{
    size_t n = json_array_size(expected), k = 0;

    if (out->rc != WASM_OK)
        return failf(cx, "trapped: %s", wasm_instance_trap_message(out->inst));
    if (n != out->nresults)
        return failf(cx, "%u results, expected %zu", out->nresults, n);
    for (size_t i = 0; i < n; i++) {
        const uint64_t *got_bits = &out->slots[k];
        struct value want;
        char got[192], exp[192];

        k += wasm_valtype_slots(out->types[i]);
        if (parse_value(json_array_get(expected, i), &want, cx) != 0)
            return RES_SKIP;
        if (want.type != out->types[i])
            return failf(cx, "result %zu is %s, expected %s", i, type_name(out->types[i]),
                         type_name(want.type));
        if (value_matches(&want, got_bits))
            continue;
        format_value(got, sizeof(got), out->types[i], got_bits, want.lane_bits);
        if (want.type == WASM_V128) {
            size_t m = (size_t)snprintf(exp, sizeof(exp), "v128:i%ux%u", want.lane_bits,
                                        128 / want.lane_bits);
            for (unsigned l = 0; l < 128 / want.lane_bits && m < sizeof(exp); l++) {
                if (want.lanes[l] != MATCH_BITS)
                    m += (size_t)snprintf(exp + m, sizeof(exp) - m, " %s",
                                          match_name(want.lanes[l]));
                else
                    m += (size_t)snprintf(exp + m, sizeof(exp) - m, " 0x%0*" PRIx64,
                                          (int)want.lane_bits / 4,
                                          lane_get(want.bits, want.lane_bits, l));
            }
        } else if (want.match == MATCH_BITS) {
            format_value(exp, sizeof(exp), want.type, want.bits, 32);
        } else {
            snprintf(exp, sizeof(exp), "%s", match_name(want.match));
        }
        return failf(cx, "result %zu: got %s, expected %s", i, got, exp);
    }
    return RES_PASS;
}

/*
 * The script's trap text matches ours when one contains the other: scripts sometimes
 * add detail ("uninitialized element 2") and engines sometimes add context.
 */
static bool trap_text_matches(const char *ours, const char *want)
{
    size_t n = strlen(ours);

    if (want == NULL || strstr(ours, want) != NULL)
        return true;
    return n > 0 && strncmp(want, ours, n) == 0;
}

static enum result check_trap(struct outcome *out, const char *text, struct cmd_ctx *cx)
{
    const char *msg;

    if (out->rc == WASM_OK)
        return failf(cx, "returned normally, expected trap \"%s\"", text);
    msg = wasm_instance_trap_message(out->inst);
    if (!trap_text_matches(msg ? msg : "", text))
        return failf(cx, "trapped with \"%s\", expected \"%s\"", msg, text);
    return RES_PASS;
}

/* ---- Commands ----------------------------------------------------------------------- */

static bool is_text_module(json_t *cmd)
{
    const char *mt = json_string_value(json_object_get(cmd, "module_type"));
    const char *file = json_string_value(json_object_get(cmd, "filename"));
    size_t n = file ? strlen(file) : 0;

    return (mt != NULL && strcmp(mt, "text") == 0) ||
           (n > 4 && strcmp(file + n - 4, ".wat") == 0);
}

/* Loads the command's module file. Returns the module or NULL with status/err. */
static wasm_module_t *load_cmd_module(struct script *s, json_t *cmd, enum wasm_status *status,
                                      char *err, size_t errlen)
{
    const char *file = json_string_value(json_object_get(cmd, "filename"));
    char path[8192];

    if (file == NULL) {
        *status = WASM_ERR_ARG;
        snprintf(err, errlen, "command has no filename");
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/%s", s->dir, file);
    return load_file(path, status, err, errlen);
}

static enum result cmd_module(struct script *s, json_t *cmd, struct cmd_ctx *cx)
{
    const char *name = json_string_value(json_object_get(cmd, "name"));
    enum wasm_status status;
    wasm_instance_t *inst = NULL;
    wasm_module_t *m;
    char err[512];
    int rc;

    if (is_text_module(cmd))
        return skipf(cx, "text module");
    s->current = NULL;
    m = load_cmd_module(s, cmd, &status, err, sizeof(err));
    if (m == NULL)
        return failf(cx, "module rejected: %s", err);
    keep_module(s, m);
    rc = wasm_instance_new(m, s->linker, NULL, &inst, err, sizeof(err));
    if (inst != NULL)
        keep_instance(s, inst, name);
    if (rc != WASM_OK)
        return failf(cx, "instantiation failed: %s",
                     rc == WASM_ERR_TRAP && inst ? wasm_instance_trap_message(inst) : err);
    s->current = inst;
    return RES_PASS;
}

static enum result cmd_register(struct script *s, json_t *cmd, struct cmd_ctx *cx)
{
    const char *name = json_string_value(json_object_get(cmd, "name"));
    const char *as = json_string_value(json_object_get(cmd, "as"));
    wasm_instance_t *inst = find_instance(s, name);

    if (as == NULL)
        return failf(cx, "register without \"as\"");
    if (inst == NULL)
        return failf(cx, "no module %s to register", name ? name : "(current)");
    if (wasm_linker_define_instance(s->linker, as, inst) != WASM_OK)
        return failf(cx, "cannot register as \"%s\"", as);
    return RES_PASS;
}

/*
 * assert_invalid / assert_malformed: load must reject the binary module, and say which:
 * WASM_ERR_INVALID for assert_invalid, WASM_ERR_MALFORMED for assert_malformed.
 */
static enum result cmd_rejected(struct script *s, json_t *cmd, bool want_invalid,
                                struct cmd_ctx *cx)
{
    const char *text = json_string_value(json_object_get(cmd, "text"));
    enum wasm_status status;
    wasm_module_t *m;
    char err[512];

    if (is_text_module(cmd))
        return skipf(cx, "text module");
    m = load_cmd_module(s, cmd, &status, err, sizeof(err));
    if (m != NULL) {
        wasm_module_free(m);
        return failf(cx, "module accepted, expected \"%s\"", text ? text : "");
    }
    if (status == WASM_ERR_ARG)
        return failf(cx, "%s", err);
    if ((status == WASM_ERR_INVALID) != want_invalid)
        return failf(cx, "rejected as %s (%s), expected %s \"%s\"",
                     status == WASM_ERR_INVALID ? "invalid" : "malformed", err,
                     want_invalid ? "invalid" : "malformed", text ? text : "");
    return RES_PASS;
}

/* assert_unlinkable (want WASM_ERR_LINK) / assert_uninstantiable (want WASM_ERR_TRAP). */
static enum result cmd_instantiate_fails(struct script *s, json_t *cmd, int want,
                                         struct cmd_ctx *cx)
{
    const char *text = json_string_value(json_object_get(cmd, "text"));
    enum wasm_status status;
    wasm_instance_t *inst = NULL;
    wasm_module_t *m;
    char err[512] = "";
    int rc;

    if (is_text_module(cmd))
        return skipf(cx, "text module");
    m = load_cmd_module(s, cmd, &status, err, sizeof(err));
    if (m == NULL)
        return failf(cx, "module rejected: %s", err);
    keep_module(s, m);
    rc = wasm_instance_new(m, s->linker, NULL, &inst, err, sizeof(err));
    if (inst != NULL)
        keep_instance(s, inst, NULL); /* its effects on shared state remain */
    if (rc == WASM_OK)
        return failf(cx, "instantiated, expected \"%s\"", text ? text : "");
    if (rc != want)
        return failf(cx, "instantiation failed with status %d (%s), expected %s", rc,
                     rc == WASM_ERR_TRAP && inst ? wasm_instance_trap_message(inst) : err,
                     want == WASM_ERR_LINK ? "a link error" : "a trap");
    if (want == WASM_ERR_TRAP && inst != NULL &&
        !trap_text_matches(wasm_instance_trap_message(inst), text))
        return failf(cx, "trapped with \"%s\", expected \"%s\"",
                     wasm_instance_trap_message(inst), text);
    return RES_PASS;
}

static enum result run_command(struct script *s, json_t *cmd, struct cmd_ctx *cx)
{
    const char *type = json_string_value(json_object_get(cmd, "type"));
    json_t *action = json_object_get(cmd, "action");
    json_t *expected = json_object_get(cmd, "expected");
    const char *text = json_string_value(json_object_get(cmd, "text"));
    struct outcome out;
    enum result r;

    cx->msg[0] = '\0';
    if (type == NULL)
        return failf(cx, "command without a type");
    if (strcmp(type, "module") == 0)
        return cmd_module(s, cmd, cx);
    if (strcmp(type, "register") == 0)
        return cmd_register(s, cmd, cx);
    if (strcmp(type, "assert_invalid") == 0)
        return cmd_rejected(s, cmd, true, cx);
    if (strcmp(type, "assert_malformed") == 0)
        return cmd_rejected(s, cmd, false, cx);
    if (strcmp(type, "assert_unlinkable") == 0)
        return cmd_instantiate_fails(s, cmd, WASM_ERR_LINK, cx);
    if (strcmp(type, "assert_uninstantiable") == 0)
        return cmd_instantiate_fails(s, cmd, WASM_ERR_TRAP, cx);
    if (action == NULL)
        return skipf(cx, "unknown command %s", type);

    r = run_action(s, action, &out, cx);
    if (r != RES_PASS)
        return r;
    if (strcmp(type, "action") == 0)
        return out.rc == WASM_OK ? RES_PASS
                                 : failf(cx, "trapped: %s",
                                         wasm_instance_trap_message(out.inst));
    if (strcmp(type, "assert_return") == 0)
        return check_results(&out, expected, cx);
    if (strcmp(type, "assert_trap") == 0)
        return check_trap(&out, text, cx);
    if (strcmp(type, "assert_exhaustion") == 0)
        return check_trap(&out, text, cx);
    return skipf(cx, "unknown command %s", type);
}

/* ---- One file: child executes, parent counts ----------------------------------------- */

static void send_line(int fd, const char *fmt, ...)
{
    char buf[64];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (write(fd, buf, (size_t)n) != n)
        _exit(3);
}

/*
 * Child: executes every command in order, except those that crashed earlier. Commands
 * before `from` only rebuild state and are neither reported nor printed.
 */
static void child_run(json_t *cmds, const char *json_path, const char *spectest,
                      const bool *crashed, size_t from, int fd, const struct options *o)
{
    struct script s;
    struct cmd_ctx cx;
    size_t n = json_array_size(cmds);

    if (script_init(&s, json_path, spectest) != 0)
        _exit(4);
    for (size_t k = 0; k < n; k++) {
        json_t *cmd = json_array_get(cmds, k);
        long line = (long)json_integer_value(json_object_get(cmd, "line"));
        enum result r;

        if (crashed[k])
            continue;
        if (k >= from)
            send_line(fd, "b %zu\n", k);
        alarm(COMMAND_TIMEOUT_S);
        r = run_command(&s, cmd, &cx);
        alarm(0);
        if (k < from)
            continue;
        if ((r == RES_FAIL && (!o->summary || o->verbose)) || (o->verbose && r == RES_SKIP))
            printf("  line %ld: %s %s: %s\n", line,
                   json_string_value(json_object_get(cmd, "type")),
                   r == RES_FAIL ? "FAILED" : "skipped", cx.msg);
        fflush(stdout);
        send_line(fd, "e %zu %d\n", k, (int)r);
    }
    script_free(&s);
    fflush(stdout);
    _exit(0);
}

/* Reads the child's report lines into results; returns the command begun last, or -1. */
static long read_reports(int fd, enum result *results, size_t n)
{
    char buf[4096];
    size_t len = 0;
    long open_cmd = -1;

    for (;;) {
        ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);
        char *p, *nl;

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = '\0';
        p = buf;
        while ((nl = strchr(p, '\n')) != NULL) {
            size_t k;
            int res;

            *nl = '\0';
            if (sscanf(p, "b %zu", &k) == 1 && k < n) {
                open_cmd = (long)k;
            } else if (sscanf(p, "e %zu %d", &k, &res) == 2 && k < n) {
                results[k] = (enum result)res;
                open_cmd = -1;
            }
            p = nl + 1;
        }
        len -= (size_t)(p - buf);
        memmove(buf, p, len);
    }
    return open_cmd;
}

static int run_file(const char *json_path, const struct options *o, struct counts *c)
{
    json_error_t jerr;
    json_t *root = json_load_file(json_path, JSON_ALLOW_NUL, &jerr);
    json_t *cmds = json_object_get(root, "commands");
    size_t n = json_array_size(cmds), from = 0;
    enum result *results;
    bool *crashed;

    memset(c, 0, sizeof(*c));
    if (root == NULL || !json_is_array(cmds)) {
        fprintf(stderr, "%s: %s\n", json_path, root ? "no commands" : jerr.text);
        json_decref(root);
        return -1;
    }
    results = calloc(n + 1, sizeof(*results));
    crashed = calloc(n + 1, sizeof(*crashed));
    for (;;) {
        int fds[2], status;
        long open_cmd;
        pid_t pid;

        fflush(stdout);
        if (pipe(fds) != 0 || (pid = fork()) < 0) {
            perror("spec runner");
            exit(2);
        }
        if (pid == 0) {
            close(fds[0]);
            child_run(cmds, json_path, o->spectest, crashed, from, fds[1], o);
        }
        close(fds[1]);
        open_cmd = read_reports(fds[0], results, n);
        close(fds[0]);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            break;
        if (open_cmd < 0) {
            printf("  runner child ended with status 0x%x outside a command\n", status);
            break;
        }
        results[open_cmd] = RES_FAIL;
        crashed[open_cmd] = true;
        printf("  line %" JSON_INTEGER_FORMAT ": %s FAILED: %s\n",
               json_integer_value(json_object_get(json_array_get(cmds, (size_t)open_cmd),
                                                  "line")),
               json_string_value(
                   json_object_get(json_array_get(cmds, (size_t)open_cmd), "type")),
               WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM ? "timed out"
               : WIFSIGNALED(status) ? strsignal(WTERMSIG(status))
                                     : "the runner exited");
        from = (size_t)open_cmd + 1;
    }
    for (size_t k = 0; k < n; k++) {
        if (results[k] == RES_PASS)
            c->passed++;
        else if (results[k] == RES_SKIP)
            c->skipped++;
        else
            c->failed++; /* failed, or never reached */
    }
    free(results);
    free(crashed);
    json_decref(root);
    return 0;
}

/* ---- Expected failures, main -------------------------------------------------------- */

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

/* The xfail count of NAME.wast for NAME.json (0 when not listed); -1 if unreadable. */
static long xfail_count(const char *xfail, const char *json_path)
{
    char want[512], line[512], name[512];
    size_t blen;
    long n, found = 0;
    FILE *f;

    if (xfail == NULL)
        return 0;
    f = fopen(xfail, "r");
    if (f == NULL)
        return -1;
    snprintf(want, sizeof(want), "%s", base_name(json_path));
    blen = strlen(want);
    if (blen > 5 && strcmp(want + blen - 5, ".json") == 0)
        snprintf(want + blen - 5, sizeof(want) - (blen - 5), ".wast");
    while (fgets(line, sizeof(line), f) != NULL) {
        if (line[0] == '#')
            continue;
        if (sscanf(line, "%511s %ld", name, &n) == 2 && strcmp(name, want) == 0)
            found = n;
    }
    fclose(f);
    return found;
}

static void usage(void)
{
    fprintf(stderr, "usage: wasp_spec_runner --spectest SPECTEST.wasm [--xfail FILE] "
                    "[--summary] [--note TEXT] [-v] FILE.json...\n");
}

int main(int argc, char **argv)
{
    struct options o = {0};
    struct counts total = {0};
    const char *note = NULL;
    int i, rc = 0;

    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--spectest") == 0 && i + 1 < argc)
            o.spectest = argv[++i];
        else if (strcmp(argv[i], "--xfail") == 0 && i + 1 < argc)
            o.xfail = argv[++i];
        else if (strcmp(argv[i], "--note") == 0 && i + 1 < argc)
            note = argv[++i];
        else if (strcmp(argv[i], "--summary") == 0)
            o.summary = true;
        else if (strcmp(argv[i], "-v") == 0)
            o.verbose = true;
        else
            return usage(), 2;
    }
    if (o.spectest == NULL || i == argc)
        return usage(), 2;
    if (wasm_engine_init() != WASM_OK) {
        fprintf(stderr, "spec runner: cannot initialise the engine\n");
        return 2;
    }
    for (; i < argc; i++) {
        struct counts c;
        long xfail = xfail_count(o.xfail, argv[i]);
        char name[512];

        snprintf(name, sizeof(name), "%s", base_name(argv[i]));
        if (strlen(name) > 5)
            snprintf(name + strlen(name) - 5, 6, ".wast");
        if (xfail < 0) {
            fprintf(stderr, "spec runner: cannot read %s\n", o.xfail);
            return 2;
        }
        if (!o.summary)
            printf("%s:\n", name);
        if (run_file(argv[i], &o, &c) != 0) {
            printf("%-32s cannot be read: counted as 1 failure\n", name);
            total.failed++;
            rc = 1;
            continue;
        }
        printf("%-32s %6ld passed %5ld failed %5ld skipped", name, c.passed, c.failed,
               c.skipped);
        if (xfail > 0)
            printf("  (xfail %ld)", xfail);
        printf("\n");
        if (c.failed > xfail) {
            printf("%s: %ld failures, %ld expected (xfail.txt): a regression\n", name,
                   c.failed, xfail);
            rc = 1;
        } else if (c.failed < xfail) {
            printf("%s: now passing more: update xfail (%ld failures, xfail.txt says %ld)\n",
                   name, c.failed, xfail);
            rc = 1;
        }
        total.passed += c.passed;
        total.failed += c.failed;
        total.skipped += c.skipped;
    }
    if (o.summary) {
        if (note != NULL)
            printf("%s\n", note);
        printf("TOTAL %ld passed, %ld failed, %ld skipped\n", total.passed, total.failed,
               total.skipped);
        return 0;
    }
    return rc;
}
