/*
 * wasm.h - the public API of wasp's WebAssembly engine (engine/).
 *
 * A module is decoded, validated and translated once into register code and is then
 * immutable: any number of instances on any threads share it. An instance owns its
 * memories, tables and globals (or references imported ones) and is used by one thread
 * at a time. Host functions are registered on a linker by (module, field) name with a
 * signature that is checked at instantiation. Depends on libc and libm only.
 *
 * Values cross the API as 64-bit slots (uint64_t): i32 in the low 32 bits, f32/f64 as
 * their IEEE bit patterns, references as opaque 64-bit handles (0 is null), and a v128
 * as two consecutive slots, its low 64 bits (lanes 0..) first. Host functions cannot
 * take or return v128 (their signatures have no letter for it), so a module importing
 * such a function from the host fails to link.
 */
#ifndef WASP_ENGINE_WASM_H
#define WASP_ENGINE_WASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WASM_PAGE_SIZE 65536u
#define WASM_MAX_PAGES 65536u

/* Status codes of the embedding API (engine errors also fill a caller-owned buffer). */
enum wasm_status {
    WASM_OK = 0,
    WASM_ERR_MALFORMED = 1,  /* the bytes are not a well-formed binary module */
    WASM_ERR_INVALID = 2,    /* well-formed but fails validation */
    WASM_ERR_LINK = 3,       /* an import is missing or has the wrong type */
    WASM_ERR_TRAP = 4,       /* execution trapped; see wasm_instance_trap() */
    WASM_ERR_NOMEM = 5,      /* out of host memory or address space */
    WASM_ERR_ARG = 6,        /* bad argument to an API call (unknown export, arity) */
};

enum wasm_valtype {
    WASM_I32 = 0x7f,
    WASM_I64 = 0x7e,
    WASM_F32 = 0x7d,
    WASM_F64 = 0x7c,
    WASM_V128 = 0x7b,
    WASM_FUNCREF = 0x70,
    WASM_EXTERNREF = 0x6f,
};

enum wasm_extern_kind {
    WASM_EXTERN_FUNC = 0,
    WASM_EXTERN_TABLE = 1,
    WASM_EXTERN_MEMORY = 2,
    WASM_EXTERN_GLOBAL = 3,
};

/* Why execution stopped. wasm_trap_message() gives the spec's wording for each. */
enum wasm_trap {
    WASM_TRAP_NONE = 0,
    WASM_TRAP_UNREACHABLE,          /* "unreachable" */
    WASM_TRAP_MEMORY_OOB,           /* "out of bounds memory access" */
    WASM_TRAP_TABLE_OOB,            /* "out of bounds table access" */
    WASM_TRAP_UNDEFINED_ELEMENT,    /* "undefined element" (call_indirect index) */
    WASM_TRAP_UNINITIALIZED_ELEMENT,/* "uninitialized element" (null entry) */
    WASM_TRAP_INDIRECT_TYPE,        /* "indirect call type mismatch" */
    WASM_TRAP_DIV_ZERO,             /* "integer divide by zero" */
    WASM_TRAP_INT_OVERFLOW,         /* "integer overflow" */
    WASM_TRAP_INVALID_CONVERSION,   /* "invalid conversion to integer" */
    WASM_TRAP_STACK_EXHAUSTED,      /* "call stack exhausted" */
    WASM_TRAP_FUEL_EXHAUSTED,       /* "fuel exhausted" */
    WASM_TRAP_HOST,                 /* a host function trapped; message is its own */
    WASM_TRAP_EXIT,                 /* a host function ended the guest (WASI proc_exit) */
    WASM_TRAP_DEADLINE,             /* "execution time exceeded" (wasm_instance_set_deadline) */
};

/* A function type; the arrays are owned by the module (or linker) it came from. */
struct wasm_functype {
    uint32_t nparams;
    uint32_t nresults;
    const uint8_t *params;  /* enum wasm_valtype */
    const uint8_t *results; /* enum wasm_valtype */
};

struct wasm_limits {
    uint32_t min;
    uint32_t max;
    bool has_max;
};

/* Describes one import or export of a module. Strings are owned by the module. */
struct wasm_extern_desc {
    const char *module; /* imports only; NUL-terminated (names with NUL are rejected) */
    const char *name;
    enum wasm_extern_kind kind;
    union {
        struct wasm_functype func;
        struct {
            uint8_t elemtype; /* WASM_FUNCREF or WASM_EXTERNREF */
            struct wasm_limits limits;
        } table;
        struct wasm_limits memory;
        struct {
            uint8_t valtype;
            bool mutable_;
        } global;
    } type;
};

typedef struct wasm_module wasm_module_t;
typedef struct wasm_instance wasm_instance_t;
typedef struct wasm_linker wasm_linker_t;
typedef struct wasm_func wasm_func_t; /* a function of an instance (export handle) */
typedef struct wasm_image wasm_image_t; /* a snapshot of an instance's state */

/*
 * A host function. On entry slots[0..nparams-1] hold the arguments; before returning
 * WASM_OK it writes its results to slots[0..nresults-1]. It returns WASM_OK, or the
 * value of wasm_trap_raise()/wasm_exit_raise() to stop the guest. It may call back into
 * the same instance (wasm_call) re-entrantly, e.g. to run the guest's allocator; pointers
 * into guest memory obtained before such a call must be fetched again after it.
 */
typedef int (*wasm_host_func_t)(wasm_instance_t *inst, uint64_t *slots, void *env);

/*
 * Process-wide setup (signal handlers for guard-page traps). Idempotent, thread-safe.
 * A program that installs its own SIGSEGV/SIGBUS handler afterwards should call it again:
 * the engine's handler goes back in front and passes faults outside guest memory on to
 * that handler (instantiation does the same check).
 */
int wasm_engine_init(void);

/* ---- Modules ---------------------------------------------------------------------- */

/*
 * Decodes, validates and translates a binary module. The bytes are copied; the caller
 * keeps ownership of its buffer. Returns NULL and writes why into err (naming the section,
 * function index and byte offset) when the module is malformed or invalid; *status (if not
 * NULL) tells which.
 */
wasm_module_t *wasm_module_load(const uint8_t *bytes, size_t len, enum wasm_status *status,
                                char *err, size_t errlen);
void wasm_module_free(wasm_module_t *m);

uint32_t wasm_module_import_count(const wasm_module_t *m);
uint32_t wasm_module_export_count(const wasm_module_t *m);
/* Fills d with import/export i. Returns WASM_OK or WASM_ERR_ARG for a bad index. */
int wasm_module_import(const wasm_module_t *m, uint32_t i, struct wasm_extern_desc *d);
int wasm_module_export(const wasm_module_t *m, uint32_t i, struct wasm_extern_desc *d);
/* True when the module exports a function called name (of any type). */
bool wasm_module_has_export_func(const wasm_module_t *m, const char *name);

/* ---- Linking ---------------------------------------------------------------------- */

/*
 * A linker is built by one thread; once nobody defines into it any more, any number of
 * threads may instantiate against it at once (lookups only read it).
 */
wasm_linker_t *wasm_linker_new(void);
void wasm_linker_free(wasm_linker_t *l);

/*
 * Registers a host function under (module, name). sig lists parameter then result types
 * as "(params)results" with i=i32, I=i64, f=f32, F=f64, r=externref; e.g. "(iiii)i",
 * "(i)" for proc_exit, "()I". Returns WASM_ERR_ARG for a malformed signature. A later
 * definition of the same name replaces the earlier one.
 */
int wasm_linker_define_func(wasm_linker_t *l, const char *module, const char *name,
                            const char *sig, wasm_host_func_t fn, void *env);

/*
 * Makes every export of inst importable as (module_name, export name): functions,
 * memories, tables and globals are shared, not copied. inst must outlive every instance
 * linked against it.
 */
int wasm_linker_define_instance(wasm_linker_t *l, const char *module_name,
                                wasm_instance_t *inst);

/* ---- Instances -------------------------------------------------------------------- */

struct wasm_instance_config {
    uint32_t max_memory_pages; /* 0: the module's own maximum (or 65536) */
    uint32_t max_call_depth;   /* 0: a default (e.g. 10000 frames) */
    size_t value_stack_bytes;  /* 0: a default (e.g. 1 MiB) */
    bool defer_start;          /* don't run the start function; call wasm_instance_start() */
};

/*
 * Links m against l, allocates memories/tables/globals, applies active element and data
 * segments and (unless cfg->defer_start) runs the start function. cfg may be NULL.
 * Returns WASM_OK and *out, or: WASM_ERR_LINK (missing/mistyped import, named in err),
 * WASM_ERR_TRAP (a segment was out of bounds or start trapped; *out is then set to the
 * instance when it was created, so the caller can read the trap and must free it),
 * WASM_ERR_NOMEM.
 */
int wasm_instance_new(const wasm_module_t *m, const wasm_linker_t *l,
                      const struct wasm_instance_config *cfg, wasm_instance_t **out,
                      char *err, size_t errlen);
/* Runs the start function if the module has one (after defer_start). */
int wasm_instance_start(wasm_instance_t *inst);
void wasm_instance_free(wasm_instance_t *inst);

const wasm_module_t *wasm_instance_module(const wasm_instance_t *inst);
void wasm_instance_set_userdata(wasm_instance_t *inst, void *userdata);
void *wasm_instance_userdata(const wasm_instance_t *inst);

/* The exported function name, or NULL when there is none (or it is not a function). */
wasm_func_t *wasm_instance_export_func(wasm_instance_t *inst, const char *name);
const struct wasm_functype *wasm_func_type(const wasm_func_t *f);

/*
 * Calls f. slots holds the arguments on entry and the results on return, one slot per
 * value and two per v128 (wasm_valtype_slots), and must have room for the larger of the
 * parameters' and the results' slot counts. Returns WASM_OK or WASM_ERR_TRAP (details
 * from wasm_instance_trap). Re-entrant from host functions of the same instance.
 */
int wasm_call(wasm_instance_t *inst, wasm_func_t *f, uint64_t *slots);

/*
 * Reads an exported global: its type and value (for a v128, its low 64 bits; see
 * wasm_instance_export_global_v128). WASM_ERR_ARG if there is none.
 */
int wasm_instance_export_global(wasm_instance_t *inst, const char *name, uint8_t *valtype,
                                uint64_t *value);
/* Reads an exported v128 global into value[0] (low 64 bits) and value[1] (high ones).
 * WASM_ERR_ARG if there is no such global or it is not a v128. */
int wasm_instance_export_global_v128(wasm_instance_t *inst, const char *name, uint64_t value[2]);

/* ---- Images (snapshots) and clones ----------------------------------------------- */

/*
 * Captures the state of inst as an immutable image: the contents and sizes of its
 * memories, the values of its defined globals, the elements of its tables, which data and
 * element segments are dropped and the passive element segments. Typically taken right
 * after the guest's own initialisation ran (start function, WASI `_initialize`), so that
 * instances made from it (wasm_instance_new_from_image) start initialised without running
 * anything. inst is not changed and may go on running or be freed.
 *
 * Refused (WASM_ERR_ARG, why in err): inst is running (capture from outside any call);
 * it imports a memory or a table (their state belongs to another instance); a table,
 * global or passive element segment holds a function that is neither inst's own nor one
 * of its imports. Externref values are copied as they are: the host keeps them valid for
 * every clone. Imported globals are not part of the image (clones link their own).
 * Memory contents go to a sealed memfd (Linux >= 3.17): WASM_ERR_NOMEM when that fails.
 * The image refers to inst's module, which must outlive the image and every clone.
 * @return WASM_OK and *out, or an error with err filled.
 */
int wasm_image_new(const wasm_instance_t *inst, wasm_image_t **out, char *err, size_t errlen);
/* Frees img. Clones do not need their image: they may outlive it. */
void wasm_image_free(wasm_image_t *img);
const wasm_module_t *wasm_image_module(const wasm_image_t *img);
/* Size in bytes of memory 0 in the image (0 when the module defines none). */
uint64_t wasm_image_memory_size(const wasm_image_t *img);

/*
 * Makes an instance of img's module in img's state (a "clone"): links the imports against
 * l exactly as wasm_instance_new does (same checks and errors; each clone may use another
 * linker), copies globals, tables and segment state, and maps each memory copy-on-write
 * from the image's memfd: pages no clone writes stay one physical copy shared by every
 * clone on every thread, and a page is copied for a clone when it first writes it. No
 * data segment is copied, no start function runs (cfg->defer_start is ignored). cfg's
 * limits apply as in wasm_instance_new: memory.grow stops at max_memory_pages, and an
 * image memory already larger than it is refused (WASM_ERR_NOMEM). With
 * WASP_BOUNDS_CHECKS the first memory.grow of a clone copies its memory to the heap.
 * Thread-safe: any number of threads may clone one image (and link against one linker
 * nobody modifies) at once.
 * @return WASM_OK and *out, or WASM_ERR_LINK / WASM_ERR_NOMEM / WASM_ERR_ARG with err.
 */
int wasm_instance_new_from_image(const wasm_image_t *img, const wasm_linker_t *l,
                                 const struct wasm_instance_config *cfg, wasm_instance_t **out,
                                 char *err, size_t errlen);

/* ---- Traps, limits ---------------------------------------------------------------- */

/* The last trap of inst (WASM_TRAP_NONE after a successful call). */
enum wasm_trap wasm_instance_trap(const wasm_instance_t *inst);
/* Human-readable reason of the last trap: the spec's text, or the host's message. */
const char *wasm_instance_trap_message(const wasm_instance_t *inst);
/* The exit code passed to wasm_exit_raise() when the trap is WASM_TRAP_EXIT. */
int32_t wasm_instance_exit_code(const wasm_instance_t *inst);
/*
 * Writes the guest call stack of the last trap, innermost first, one frame per line
 * ("#0 func[12] name+0x1c"), names from the `name` section. Returns the length written.
 */
size_t wasm_instance_backtrace(const wasm_instance_t *inst, char *buf, size_t len);

/* For host functions: stop the guest with a host trap (message is copied). */
int wasm_trap_raise(wasm_instance_t *inst, const char *message);
/* For host functions: stop the guest as an exit (WASI proc_exit) with code. */
int wasm_exit_raise(wasm_instance_t *inst, int32_t code);

/* The spec wording of a trap kind ("integer divide by zero", ...). */
const char *wasm_trap_message(enum wasm_trap trap);

/* The text-format name of a value type ("i32", "funcref", ...), or "invalid type". */
const char *wasm_valtype_name(uint8_t valtype);

/* Slots a value of this type takes in a slots array: two for v128, one otherwise. */
static inline uint32_t wasm_valtype_slots(uint8_t valtype)
{
    return valtype == WASM_V128 ? 2u : 1u;
}

/*
 * Fuel: an instruction budget for the next calls, charged at loop back-edges and calls.
 * 0 turns metering off (the default). When it runs out the guest traps with
 * WASM_TRAP_FUEL_EXHAUSTED and the instance stays usable (set more fuel to go on).
 */
void wasm_instance_set_fuel(wasm_instance_t *inst, uint64_t fuel);
uint64_t wasm_instance_fuel(const wasm_instance_t *inst);

/*
 * Wall-clock limit: from now on, calls into inst (nested ones from host functions
 * included) trap with WASM_TRAP_DEADLINE, "execution time exceeded", once the clock of
 * wasm_clock_ns() passes deadline_ns. The clock is read at the fuel points (calls, loop
 * back-edges and other taken branches), once every WASM_DEADLINE_SLICE (8192) of them,
 * so a guest stops at most a few hundred microseconds after the deadline and a loop
 * without calls still stops. 0 (the default) turns the limit off. Costs one clock read
 * per slice when on, nothing when off; independent of fuel (both may be on). The
 * instance stays usable after the trap. A host function that blocks is not interrupted.
 * Typical use, per callback: wasm_instance_set_deadline(inst, wasm_clock_ns() + limit).
 */
void wasm_instance_set_deadline(wasm_instance_t *inst, uint64_t deadline_ns);
uint64_t wasm_instance_deadline(const wasm_instance_t *inst);
/* CLOCK_MONOTONIC in nanoseconds: the clock of deadlines. */
uint64_t wasm_clock_ns(void);

/* ---- Guest memory (memory 0) ------------------------------------------------------ */

/*
 * A host pointer to [offset, offset+len) of memory 0, or NULL when any of it is out of
 * range (or there is no memory). Valid until the next call into the guest.
 */
void *wasm_memory_ptr(wasm_instance_t *inst, uint64_t offset, uint64_t len);
/* Current size of memory 0 in bytes (0 when the module has none). */
uint64_t wasm_memory_size(const wasm_instance_t *inst);

/* Helpers to move values in and out of slots. */
static inline uint64_t wasm_slot_f32(float f)
{
    union {
        float f;
        uint32_t u;
    } v = {.f = f};
    return v.u;
}
static inline uint64_t wasm_slot_f64(double d)
{
    union {
        double d;
        uint64_t u;
    } v = {.d = d};
    return v.u;
}
static inline float wasm_slot_as_f32(uint64_t s)
{
    union {
        uint32_t u;
        float f;
    } v = {.u = (uint32_t)s};
    return v.f;
}
static inline double wasm_slot_as_f64(uint64_t s)
{
    union {
        uint64_t u;
        double d;
    } v = {.u = s};
    return v.d;
}

#endif /* WASP_ENGINE_WASM_H */
