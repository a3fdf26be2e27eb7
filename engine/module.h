/*
 * module.h - the decoded form of a binary module, shared inside engine/ only.
 *
 * The decoder (decode.c) fills it from the bytes and checks well-formedness; the
 * validator (validate.c) type-checks every function body and constant expression; the
 * translator (translate.c) turns each validated body into register code stored in
 * funcs[i].code. After wasm_module_load() returns, nothing here changes again, so
 * instances on any thread read it without locks.
 */
#ifndef WASP_ENGINE_MODULE_H
#define WASP_ENGINE_MODULE_H

#include "wasm.h"

/* Constant expression (globals, segment offsets, element items). */
enum wasm_constexpr_op {
    WASM_CONST_I32,      /* value.bits holds the (zero-extended) i32 */
    WASM_CONST_I64,
    WASM_CONST_F32,      /* value.bits holds the IEEE bits */
    WASM_CONST_F64,
    WASM_CONST_GLOBAL,   /* global.get index */
    WASM_CONST_REF_NULL, /* index holds the reftype */
    WASM_CONST_REF_FUNC, /* ref.func index */
    WASM_CONST_V128,     /* v128.const: bits holds the low 64 bits, bits_hi the high ones */
    /*
     * Anything else that is well-formed: no instruction, several, or a non-constant one.
     * Only expr..expr_end say what it is; the validator rejects it ("constant expression
     * required" / "type mismatch"), or evaluates it once extended-const exists.
     */
    WASM_CONST_EXPR,
};

struct wasm_constexpr {
    enum wasm_constexpr_op op;
    uint64_t bits;  /* for the *.const ops */
    uint64_t bits_hi; /* v128.const only */
    uint32_t index; /* global index, function index or reftype */
    /* The raw expression inside module bytes, from its first instruction to one past
     * its final `end`. Every instruction in it is well-formed (see wasm_func_decl).
     * NULL for element items encoded as bare function indices (flags 0-3). */
    const uint8_t *expr;
    const uint8_t *expr_end;
};

struct wasm_import {
    char *module; /* NUL-terminated copies; UTF-8 checked by the decoder */
    char *name;
    /* Byte lengths: names may contain NUL (valid UTF-8), so compare with these. */
    uint32_t module_len, name_len;
    enum wasm_extern_kind kind;
    uint32_t index; /* index in its space: func/table/memory/global */
};

struct wasm_export {
    char *name;        /* NUL-terminated copy */
    uint32_t name_len; /* byte length (the name may contain NUL) */
    enum wasm_extern_kind kind;
    uint32_t index;
};

/*
 * What the decoder guarantees about a body (and a constant expression): it is a sequence
 * of instructions with known opcodes (MVP, sign-ext, sat-trunc, bulk memory, reference
 * types, fixed-width SIMD; prefix 0xfc and 0xfd sub-opcodes as u32 LEB), every immediate well-formed (LEBs within
 * their width, reserved bytes zero, reftype bytes valid, block types 0x40 / a value type /
 * a non-negative s33 type index), block/loop/if balanced by `end`, and the final `end` is
 * the last byte. So later passes can read it without bounds checks. memory.init and
 * data.drop without a data count section only occur when there is no data section
 * either (so any data index is unknown: the validator says so). Indices (types,
 * locals, labels, functions, ...) are NOT checked: that is the validator's job.
 */
struct wasm_func_decl {
    uint32_t type_index;
    bool imported;
    /* Defined functions only. */
    uint32_t nlocals;      /* declared locals, excluding parameters */
    uint8_t *local_types;  /* nlocals entries, expanded from the run-length groups */
    const uint8_t *body;   /* first instruction (after the locals), inside module bytes */
    const uint8_t *body_end; /* one past the final `end` */
    uint32_t body_offset;  /* body - module bytes, for error messages */
    char *name;            /* from the `name` section, or NULL */
    void *code;            /* translated register code (translate.c owns the format) */
    uint32_t frame_slots;  /* slots the translated frame needs (params + locals + temps) */
};

struct wasm_table_decl {
    uint8_t elemtype; /* WASM_FUNCREF or WASM_EXTERNREF */
    struct wasm_limits limits;
    bool imported;
};

struct wasm_memory_decl {
    struct wasm_limits limits;
    bool imported;
};

struct wasm_global_decl {
    uint8_t valtype;
    bool mutable_;
    bool imported;
    struct wasm_constexpr init; /* defined globals only */
};

enum wasm_segment_mode {
    WASM_SEGMENT_ACTIVE,
    WASM_SEGMENT_PASSIVE,
    WASM_SEGMENT_DECLARATIVE,
};

struct wasm_elem_segment {
    enum wasm_segment_mode mode;
    uint8_t reftype;
    uint32_t table_index;         /* active only */
    struct wasm_constexpr offset; /* active only */
    uint32_t count;
    struct wasm_constexpr *items; /* REF_FUNC, REF_NULL or GLOBAL each */
};

struct wasm_data_segment {
    enum wasm_segment_mode mode; /* ACTIVE or PASSIVE */
    uint32_t memory_index;
    struct wasm_constexpr offset;
    const uint8_t *bytes; /* inside module bytes */
    uint32_t len;
};

struct wasm_module {
    uint8_t *bytes; /* owned copy of the binary; bodies and data point into it */
    size_t len;

    uint32_t ntypes;
    struct wasm_functype *types; /* params/results arrays owned by the module */

    uint32_t nimports;
    struct wasm_import *imports;

    /* Index spaces: imported entries first, then defined ones, as in the spec. */
    uint32_t nfuncs, nfunc_imports;
    struct wasm_func_decl *funcs;
    uint32_t ntables, ntable_imports;
    struct wasm_table_decl *tables;
    uint32_t nmemories, nmemory_imports;
    struct wasm_memory_decl *memories;
    uint32_t nglobals, nglobal_imports;
    struct wasm_global_decl *globals;

    uint32_t nexports;
    struct wasm_export *exports;

    bool has_start;
    uint32_t start_index;

    uint32_t nelems;
    struct wasm_elem_segment *elems;

    bool has_datacount;
    uint32_t datacount;
    uint32_t ndatas;
    struct wasm_data_segment *datas;

    /* Functions that may be named by ref.func in bodies (spec C.refs): one flag each. */
    uint8_t *func_declared;

    char *name; /* module name from the `name` section, or NULL */
};

/*
 * decode.c: fills m (zeroed first) from bytes (copied). Returns WASM_OK, or
 * WASM_ERR_MALFORMED / WASM_ERR_NOMEM with the reason in err; on failure m owns nothing
 * (wasm_module_release(m) is still safe). Custom sections are not checked beyond their
 * name; the `name` section gives m->name and funcs[i].name when it is well-formed.
 */
int wasm_decode(struct wasm_module *m, const uint8_t *bytes, size_t len, char *err,
                size_t errlen);
/* validate.c: type-checks everything decode left unchecked. WASM_OK or WASM_ERR_INVALID. */
int wasm_validate(const struct wasm_module *m, char *err, size_t errlen);
/* translate.c: fills funcs[i].code for every defined function of a valid module. */
int wasm_translate(struct wasm_module *m, char *err, size_t errlen);
/* Frees everything decode and translate allocated (not m itself). */
void wasm_module_release(struct wasm_module *m);

#endif /* WASP_ENGINE_MODULE_H */
