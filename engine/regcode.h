/*
 * regcode.h - wasp's register code: the instruction set translate.c emits and interp.c
 * runs, and the run-time objects (instances, memories, tables, globals, functions)
 * both sides share. Internal to engine/.
 *
 * Code is an array of 32-bit words. Every instruction starts with the address of its
 * handler (two words, read as one pointer: direct-threaded dispatch), followed by its
 * operands, one word each: a frame slot is a byte offset from the frame pointer, an i32
 * immediate is one word, an i64/f64 immediate two, a branch target a signed word offset
 * from the start of the branch instruction. Operand layouts are listed with the ops.
 *
 * A frame is an array of 64-bit slots: parameters first, then declared locals, then the
 * operand stack. Every value takes one slot, except v128, which takes two adjacent ones
 * (low 64 bits first; slots are 8-byte aligned, so vector code uses unaligned access).
 * A call passes its arguments in the caller's top slots, which become the callee's
 * parameter slots (frames overlap, nothing is copied).
 */
#ifndef WASP_ENGINE_REGCODE_H
#define WASP_ENGINE_REGCODE_H

#include <stdatomic.h>
#include <stdint.h>

#include "module.h"
#include "simd.h"

typedef uint32_t wasm_code_word;

/* clang-format off */
/* Compares (10 each for i32 and i64) in wasm opcode order, with a fused-branch form. */
#define WASM_ICMPS(X)                                                                      \
    X(eq) X(ne) X(lt_s) X(lt_u) X(gt_s) X(gt_u) X(le_s) X(le_u) X(ge_s) X(ge_u)

/* Integer binary operators (with _ss and _si forms) in wasm opcode order from add. */
#define WASM_IBINS(X)                                                                      \
    X(add) X(sub) X(mul) X(div_s) X(div_u) X(rem_s) X(rem_u) X(and) X(or) X(xor) X(shl)    \
    X(shr_s) X(shr_u) X(rotl) X(rotr)

/* Float binary operators (slot operands only) in wasm opcode order from add. */
#define WASM_FBINS(X) X(add) X(sub) X(mul) X(div) X(min) X(max) X(copysign)
#define WASM_FCMPS(X) X(eq) X(ne) X(lt) X(gt) X(le) X(ge)
#define WASM_FUNS(X) X(abs) X(neg) X(ceil) X(floor) X(trunc) X(nearest) X(sqrt)

/*
 * Every other op. Layout comments: d = destination slot, a/b/c = source slots,
 * i = 32-bit immediate, I = 64-bit immediate (2 words), o = branch offset, P = pointer.
 */
#define WASM_OPS_MISC(X)                                                                   \
    X(halt)          /* - : leave the interpreter (return to wasm_call) */                  \
    X(unreachable)   /* - */                                                                \
    X(trap_stack)    /* - : "call stack exhausted" (entry of a function too big) */         \
    X(br)            /* o */                                                                \
    X(br_back)       /* o : a loop back-edge, charges fuel */                               \
    X(br_z32) X(br_nz32) X(br_z64) X(br_nz64) /* a o */                                     \
    X(br_and_z_ss) X(br_and_z_si) X(br_and_nz_ss) X(br_and_nz_si) /* a b|i o: on a & b */   \
    X(br_table)      /* a n o0..o(n-1) odefault */                                          \
    X(copy)          /* d a */                                                              \
    X(copy2) X(copy3) X(copy4) /* (d a) x 2..4, in order */                                 \
    X(const32)       /* d i */                                                              \
    X(const64)       /* d I */                                                              \
    X(simd)          /* k ... : SIMD instruction or v128 move k (enum wasm_simd_op)  */     \
    X(ret0)          /* - */                                                                \
    X(ret1)          /* a */                                                                \
    X(ret1_i64)      /* I : return an immediate */                                          \
    X(retn)          /* n a0..a(n-1) */                                                     \
    X(call)          /* base P(code) */                                                     \
    X(call_ext)      /* base funcidx : imported function (host or another instance) */      \
    X(call_indirect) /* base tableidx typeid a */                                           \
    X(select)        /* d a b c */                                                          \
    X(gget) X(gset)  /* d idx / idx a */                                                    \
    X(gset_i)        /* idx I */                                                            \
    X(ref_func)      /* d funcidx */                                                        \
    X(ref_is_null)   /* d a */                                                              \
    X(memory_size)   /* d */                                                                \
    X(memory_grow)   /* d a */                                                              \
    X(memory_fill)   /* a b c : dst val len */                                              \
    X(memory_copy)   /* a b c : dst src len */                                              \
    X(memory_init)   /* a b c seg */                                                        \
    X(data_drop)     /* seg */                                                              \
    X(table_get)     /* d a table */                                                        \
    X(table_set)     /* a b table */                                                        \
    X(table_size)    /* d table */                                                          \
    X(table_grow)    /* d a b table : d = grow(init a, delta b) */                          \
    X(table_fill)    /* a b c table : i val n */                                            \
    X(table_copy)    /* a b c dsttable srctable */                                          \
    X(table_init)    /* a b c table seg */                                                  \
    X(elem_drop)     /* seg */                                                              \
    X(i32_eqz) X(i64_eqz) X(i32_clz) X(i32_ctz) X(i32_popcnt) X(i64_clz) X(i64_ctz)       \
    X(i64_popcnt) X(i32_extend8_s) X(i32_extend16_s) X(i64_extend8_s) X(i64_extend16_s)   \
    X(i64_extend32_s) X(i32_wrap_i64) X(i64_extend_i32_u) /* d a */                        \
    X(i32_trunc_f32_s) X(i32_trunc_f32_u) X(i32_trunc_f64_s) X(i32_trunc_f64_u)            \
    X(i64_trunc_f32_s) X(i64_trunc_f32_u) X(i64_trunc_f64_s) X(i64_trunc_f64_u)            \
    X(i32_trunc_sat_f32_s) X(i32_trunc_sat_f32_u) X(i32_trunc_sat_f64_s)                   \
    X(i32_trunc_sat_f64_u) X(i64_trunc_sat_f32_s) X(i64_trunc_sat_f32_u)                   \
    X(i64_trunc_sat_f64_s) X(i64_trunc_sat_f64_u)                                          \
    X(f32_convert_i32_s) X(f32_convert_i32_u) X(f32_convert_i64_s) X(f32_convert_i64_u)    \
    X(f32_demote_f64) X(f64_convert_i32_s) X(f64_convert_i32_u) X(f64_convert_i64_s)       \
    X(f64_convert_i64_u) X(f64_promote_f32)

/*
 * Loads: n (d a off), n_ss (d a b off: address a+b), n_si (d a i off: address a+i),
 * n_sx (d a b k off: address a+(b<<k)), n_xi (d a k i off: address (a<<k)+i),
 * n_sxi (d a b k i off: address a+(b<<k)+i); the address wraps at 32 bits like the
 * i32.add/shl it replaces, then the offset is added.
 * Stores: n (a v off), n_i (a off I), n_ss (a b v off), n_ss_i (a b off I),
 * n_si (a i v off), n_si_i (a i off I), n_sx (a b k v off), n_sx_i (a b k off I),
 * n_xi (a k i v off), n_xi_i (a k i off I), n_sxi (a b k i v off), n_sxi_i (a b k i off I).
 */
#define WASM_LOADS(X)                                                                      \
    X(load32) X(load64) X(load8_s32) X(load8_u) X(load16_s32) X(load16_u) X(load8_s64)    \
    X(load16_s64) X(load32_s64)
#define WASM_STORES(X) X(store8) X(store16) X(store32) X(store64)
#define WASM_OP_ENUM_LOAD(n)                                                               \
    WASM_OP_##n, WASM_OP_##n##_ss, WASM_OP_##n##_si, WASM_OP_##n##_sx, WASM_OP_##n##_xi,   \
        WASM_OP_##n##_sxi,
#define WASM_OP_ENUM_STORE(n)                                                              \
    WASM_OP_##n, WASM_OP_##n##_i, WASM_OP_##n##_ss, WASM_OP_##n##_ss_i, WASM_OP_##n##_si,  \
        WASM_OP_##n##_si_i, WASM_OP_##n##_sx, WASM_OP_##n##_sx_i, WASM_OP_##n##_xi,         \
        WASM_OP_##n##_xi_i, WASM_OP_##n##_sxi, WASM_OP_##n##_sxi_i,

#define WASM_OP_ENUM_IBIN32(n) WASM_OP_i32_##n##_ss, WASM_OP_i32_##n##_si,
#define WASM_OP_ENUM_IBIN64(n) WASM_OP_i64_##n##_ss, WASM_OP_i64_##n##_si,
#define WASM_OP_ENUM_BR32(n) WASM_OP_br_i32_##n##_ss, WASM_OP_br_i32_##n##_si,
#define WASM_OP_ENUM_BR64(n) WASM_OP_br_i64_##n##_ss, WASM_OP_br_i64_##n##_si,
#define WASM_OP_ENUM_SEL32(n) WASM_OP_sel_i32_##n##_ss, WASM_OP_sel_i32_##n##_si,
#define WASM_OP_ENUM_FBIN32(n) WASM_OP_f32_##n,
#define WASM_OP_ENUM_FBIN64(n) WASM_OP_f64_##n,
#define WASM_OP_ENUM_MISC(n) WASM_OP_##n,
/*
 * i32.add fused with the compare-and-branch that tests its result (loop counters):
 * abr_CMP_xy (d a b|i c|i o): d = a + b; branch when d CMP c. x is the add's second
 * operand (s slot, i immediate), y the compare's.
 */
/*
 * Two i32.adds in a row run as one instruction, in order: add2_xy (d a b|i d2 a2 b2|i),
 * x and y the forms (s slot, i immediate) of each add's second operand.
 */
#define WASM_OPS_ADD2(X) X(add2_ss) X(add2_si) X(add2_is) X(add2_ii)
/*
 * i32 operators whose result feeds the next instruction through an accumulator (a
 * variable of the interpreter, in a CPU register) instead of a frame slot. Per operator,
 * with the operand layout of its _ss/_si form (d a b|i; the words an accumulator
 * replaces are there but unused): _ssA, _siA (result to the accumulator), _as, _ai
 * (first operand from it), _asA, _aiA (both), _sa (second operand from it), _saA.
 */
#define WASM_IACC(X) X(add) X(sub) X(mul) X(and) X(or) X(xor) X(shl) X(shr_s) X(shr_u) X(rotl) X(rotr) \
    WASM_ICMPS(X)
#define WASM_OP_ENUM_IACC(n)                                                               \
    WASM_OP_i32_##n##_ssA, WASM_OP_i32_##n##_siA, WASM_OP_i32_##n##_as, WASM_OP_i32_##n##_ai, \
        WASM_OP_i32_##n##_asA, WASM_OP_i32_##n##_aiA, WASM_OP_i32_##n##_sa,               \
        WASM_OP_i32_##n##_saA,
/*
 * More accumulator forms: loads with the result to the accumulator (n_A, n_ss_A, ...: the
 * layout of n, n_ss, ...), stores of the accumulator (n_a, n_ss_a, n_si_a, n_sx_a,
 * n_xi_a, n_sxi_a: the layout of the slot-value forms), br_z32_a, br_nz32_a (a o) and
 * br_i32_CMP_as, br_i32_CMP_ai (the layout of _ss/_si) testing the accumulator.
 */
#define WASM_OP_ENUM_LOADA(n)                                                              \
    WASM_OP_##n##_A, WASM_OP_##n##_ss_A, WASM_OP_##n##_si_A, WASM_OP_##n##_sx_A,           \
        WASM_OP_##n##_xi_A, WASM_OP_##n##_sxi_A,
#define WASM_OP_ENUM_STOREA(n)                                                             \
    WASM_OP_##n##_a, WASM_OP_##n##_ss_a, WASM_OP_##n##_si_a, WASM_OP_##n##_sx_a,           \
        WASM_OP_##n##_xi_a, WASM_OP_##n##_sxi_a,
/*
 * "Tee" forms: the result goes to its slot (a local) and to the accumulator, for an
 * instruction whose result a local.set/tee took and that the next instruction reads:
 * i32_OP_ssT, _siT, _asT, _aiT, _saT and loads n_T, n_ss_T, ... (layouts unchanged).
 */
#define WASM_OP_ENUM_IACCT(n)                                                              \
    WASM_OP_i32_##n##_ssT, WASM_OP_i32_##n##_siT, WASM_OP_i32_##n##_asT,                   \
        WASM_OP_i32_##n##_aiT, WASM_OP_i32_##n##_saT,
#define WASM_OP_ENUM_LOADT(n)                                                              \
    WASM_OP_##n##_T, WASM_OP_##n##_ss_T, WASM_OP_##n##_si_T, WASM_OP_##n##_sx_T,           \
        WASM_OP_##n##_xi_T, WASM_OP_##n##_sxi_T,
/* A copy or two followed by an unconditional branch: (d a) x 1..2, o (back: fuel). */
#define WASM_OPS_COPYBR(X) X(copy_br) X(copy2_br) X(copy_br_back) X(copy2_br_back)
#define WASM_OPS_BRA(X) X(br_z32_a) X(br_nz32_a) X(br_table_a) X(ret1_a) X(select_a)
/* Float operators with the accumulator (bits of the value), in the layout of the slot
 * form (d a b): _ssA, _as, _asA, _sa, _saA as for WASM_IACC. */
#define WASM_FACC(X) X(f32_add) X(f32_sub) X(f32_mul) X(f32_div) X(f64_add) X(f64_sub) X(f64_mul) X(f64_div)
#define WASM_OP_ENUM_FACC(n)                                                               \
    WASM_OP_##n##_ssA, WASM_OP_##n##_as, WASM_OP_##n##_asA, WASM_OP_##n##_sa, WASM_OP_##n##_saA,
#define WASM_OP_ENUM_BRA(n) WASM_OP_br_i32_##n##_as, WASM_OP_br_i32_##n##_ai,
/* Affine i32 values (translate.c K_AFF): lea_sxi (d a b k i): d = a+(b<<k)+i,
 * lea_xi (d b k i): d = (b<<k)+i. */
#define WASM_OPS_LEA(X) X(lea_sxi) X(lea_xi)
#define WASM_OP_ENUM_ABR(n)                                                                \
    WASM_OP_abr_##n##_ss, WASM_OP_abr_##n##_si, WASM_OP_abr_##n##_is, WASM_OP_abr_##n##_ii,

enum wasm_op {
    WASM_OPS_MISC(WASM_OP_ENUM_MISC)
    WASM_ICMPS(WASM_OP_ENUM_IBIN32) WASM_IBINS(WASM_OP_ENUM_IBIN32)
    WASM_ICMPS(WASM_OP_ENUM_IBIN64) WASM_IBINS(WASM_OP_ENUM_IBIN64)
    WASM_ICMPS(WASM_OP_ENUM_BR32) WASM_ICMPS(WASM_OP_ENUM_BR64)
    WASM_ICMPS(WASM_OP_ENUM_SEL32)
    WASM_FCMPS(WASM_OP_ENUM_FBIN32) WASM_FBINS(WASM_OP_ENUM_FBIN32)
    WASM_FUNS(WASM_OP_ENUM_FBIN32)
    WASM_FCMPS(WASM_OP_ENUM_FBIN64) WASM_FBINS(WASM_OP_ENUM_FBIN64)
    WASM_FUNS(WASM_OP_ENUM_FBIN64)
    WASM_LOADS(WASM_OP_ENUM_LOAD) WASM_STORES(WASM_OP_ENUM_STORE)
    WASM_ICMPS(WASM_OP_ENUM_ABR) WASM_OPS_ADD2(WASM_OP_ENUM_MISC) WASM_OPS_LEA(WASM_OP_ENUM_MISC)
    WASM_IACC(WASM_OP_ENUM_IACC)
    WASM_LOADS(WASM_OP_ENUM_LOADA) WASM_STORES(WASM_OP_ENUM_STOREA)
    WASM_OPS_BRA(WASM_OP_ENUM_MISC) WASM_ICMPS(WASM_OP_ENUM_BRA) WASM_FACC(WASM_OP_ENUM_FACC)
    WASM_IACC(WASM_OP_ENUM_IACCT) WASM_LOADS(WASM_OP_ENUM_LOADT)
    WASM_OPS_COPYBR(WASM_OP_ENUM_MISC)
    WASM_OP_COUNT
};

/* clang-format on */

/* Translated code of one defined function: a header, then the instructions. */
struct wasm_code {
    uint32_t func_index;
    uint32_t nparams;     /* parameter slots (a v128 takes two) */
    uint32_t nlocals;     /* slots of the declared locals: zeroed on entry */
    uint32_t nresults;    /* result slots */
    uint32_t frame_slots; /* params + locals + operand stack */
    uint32_t len;         /* words in ins */
    uint32_t nmap;        /* after ins: nmap pairs (code position, offset in the body) */
    uint32_t body_offset; /* of the body in the module */
    wasm_code_word ins[];
};

/* ---- Run-time objects -------------------------------------------------------------- */

/* A linear memory; shared by reference between instances (imports/exports). */
struct wasm_memory {
    atomic_uint refs;
    uint8_t *base;
    uint64_t size;      /* bytes accessible */
    uint64_t reserved;  /* bytes of address space (guard-page mode) */
    uint32_t max_pages; /* grow limit (declared max capped by the config) */
    uint32_t decl_max;  /* declared max for import type checks */
    bool has_max;
    /* Bounds-check mode: base is a private mapping of an image's file (size bytes), not a
     * heap buffer; the first growth moves it to the heap. */
    bool mapped;
};

struct wasm_table {
    atomic_uint refs;
    uint8_t elemtype;
    uint32_t size;
    uint32_t max; /* UINT32_MAX when none */
    bool has_max;
    uint64_t *elems; /* references: struct wasm_func * or host externref bits */
};

struct wasm_global {
    uint64_t value; /* first: global.get reads *(uint64_t *)obj */
    uint64_t hi;    /* v128: the high 64 bits (value holds the low ones) */
    atomic_uint refs;
    uint8_t valtype;
    bool mutable_;
};

/* A function value: defined in an instance, or a host function of a linker. */
struct wasm_func {
    struct wasm_instance *inst;   /* owning instance (NULL for host functions) */
    const struct wasm_code *code; /* defined functions */
    const struct wasm_functype *type;
    uint32_t type_id; /* canonical: equal types have equal ids */
    uint32_t index;   /* in the owning module's function space */
    wasm_host_func_t host;
    void *env;
};

/* One activation record of the call stack. */
struct wasm_frame {
    const wasm_code_word *ret_pc; /* where the caller continues */
    uint64_t *ret_fp;             /* the caller's frame */
    const struct wasm_code *code; /* the function running in this frame */
};

struct wasm_instance {
    const struct wasm_module *module;
    struct wasm_func **funcs; /* function index space */
    struct wasm_global **globals;
    struct wasm_table **tables;
    struct wasm_memory **memories;
    struct wasm_memory *mem0;    /* memories[0] or NULL */
    struct wasm_func *own_funcs; /* defined functions */
    uint32_t *type_ids;          /* canonical id of each module type */
    uint64_t **elem_refs;        /* evaluated element segments (per instance) */
    uint32_t *elem_len;          /* 0 once dropped */
    uint8_t *data_dropped;

    /* Execution state: one thread at a time. */
    uint64_t *stack, *stack_end, *stack_top;
    struct wasm_frame *cs, *cs_end, *csp;
    uint64_t fuel;      /* metering on: the budget left (between calls) */
    bool fuel_on;
    uint64_t deadline;  /* CLOCK_MONOTONIC ns, 0: none */
    uint64_t fuel_rest; /* while running: budget not yet in the interpreter's counter */
    uint64_t fuel_ctr;  /* the counter, parked during a host call and after a run */
    uint32_t max_depth;
    size_t stack_bytes;

    enum wasm_trap trap;
    int32_t exit_code;
    const wasm_code_word *trap_pc;
    char trap_msg[256];
    char backtrace[1024];
    void *userdata;
};

/* Handler addresses, indexed by enum wasm_op (filled by wasm_interp_init). */
extern const void *wasm_op_handlers[WASM_OP_COUNT];
/* A one-instruction program running `halt` (the return address of an entry frame). */
extern wasm_code_word wasm_halt_code[2];

/*
 * simd.c: runs the SIMD instruction at pc (a `simd` op) and those right after it, until
 * an instruction of another kind, whose pc it returns. fp is the frame, inst the running
 * instance (its globals), mem/memlen its memory 0 (memlen is only used with
 * WASP_BOUNDS_CHECKS). An out-of-bounds access sets *oob and returns the pc of the
 * instruction that made it, with nothing written.
 */
const wasm_code_word *wasm_simd_run(const wasm_code_word *pc, char *fp, struct wasm_instance *inst,
                                    uint8_t *mem, uint64_t memlen, bool *oob);

/* interp.c */
/* Fuel points between two deadline checks (calls and taken branches). */
#define WASM_DEADLINE_SLICE 8192u
void wasm_interp_init(void);
/* Runs the function whose frame (args in place) starts at fp until it returns. */
int wasm_interp_run(struct wasm_instance *inst, const struct wasm_code *code, uint64_t *fp);

/* instance.c: helpers for the interpreter's slow ops; return a trap or WASM_TRAP_NONE. */
enum wasm_trap wasm_do_call_ext(struct wasm_instance *inst, struct wasm_func *f, uint64_t *args,
                                uint64_t *stack_top);
uint32_t wasm_memory_grow_inst(struct wasm_instance *inst, uint32_t delta);
enum wasm_trap wasm_bulk_op(struct wasm_instance *inst, enum wasm_op op, const wasm_code_word *args,
                            uint64_t *fp);
/* Records trap t at pc (NULL: unknown) with a backtrace of frames above entry. */
void wasm_record_trap(struct wasm_instance *inst, enum wasm_trap t, const wasm_code_word *pc,
                      const struct wasm_frame *entry);

/* instance.c: the steps of instantiation that image.c shares. */
/* A zeroed instance of m with its arrays laid out and cfg's call limits; NULL: no memory. */
struct wasm_instance *wasm_instance_alloc(const struct wasm_module *m,
                                          const struct wasm_instance_config *cfg);
/* Sets the canonical type ids (copied from type_ids, or computed when NULL), resolves the
 * imports against l and fills the defined functions. WASM_OK or an error with err. */
int wasm_instance_link(struct wasm_instance *inst, const wasm_linker_t *l, const uint32_t *type_ids,
                       char *err, size_t errlen);
/* A defined global of type d holding value (refs 1), or NULL. */
struct wasm_global *wasm_global_new(const struct wasm_global_decl *d, uint64_t value);
/* A defined table of type d with size null elements (refs 1), or NULL. */
struct wasm_table *wasm_table_new(const struct wasm_table_decl *d, uint32_t size);
/* The grow limit of memory i of m under cfg in *max; WASM_ERR_NOMEM (err says why) when
 * pages already exceed it. */
int wasm_memory_limit(const struct wasm_module *m, uint32_t i,
                      const struct wasm_instance_config *cfg, uint32_t pages, uint32_t *max,
                      char *err, size_t errlen);

/* translate.c */
uint32_t wasm_type_canon(const struct wasm_functype *t);
void wasm_translate_release(struct wasm_module *m);

/* linker.c: one definition of a linker (a host function or an instance's export). */
struct wasm_link_entry {
    char *module, *name;
    enum wasm_extern_kind kind;
    struct wasm_func *func; /* host functions: owned by the linker */
    bool owned;
    struct wasm_functype type; /* host functions */
    struct wasm_memory *memory;
    struct wasm_table *table;
    struct wasm_global *global;
};
const struct wasm_link_entry *wasm_linker_lookup(const wasm_linker_t *l, const char *module,
                                                 const char *name);
/* Formats t as "(i32 i32)->(i32)" into buf. */
void wasm_functype_str(const struct wasm_functype *t, char *buf, size_t len);

/* memory.c */
struct wasm_memory *wasm_memory_new(uint32_t min_pages, uint32_t max_pages, bool has_max,
                                    uint32_t decl_max);
void wasm_memory_unref(struct wasm_memory *mem);
/*
 * A memory whose first size bytes (a whole number of pages) are a private, copy-on-write
 * mapping of fd (an image's file, image.c): pages the instance never writes stay shared
 * with every other mapping of fd. Returns NULL when out of memory or address space.
 */
struct wasm_memory *wasm_memory_new_mapped(int fd, uint64_t size, uint32_t max_pages, bool has_max,
                                           uint32_t decl_max);
/*
 * Saves mem's contents (mem->size bytes) to a new sealed memfd: only the pages that are not
 * all zero are written, the rest stay holes. Returns the fd, or -1 with errno set.
 */
int wasm_memory_save(const struct wasm_memory *mem);
/* Grows by delta pages; returns the old size in pages or -1. */
int64_t wasm_memory_grow(struct wasm_memory *mem, uint32_t delta);
void wasm_signals_install(void);
void wasm_thread_prepare(void);
/* Thread state for guard-page traps. */
struct wasm_guard_ctx {
    struct wasm_instance *inst; /* running guest code, or NULL (host code) */
    void *jmp;                  /* sigjmp_buf * */
};
extern __thread struct wasm_guard_ctx wasm_guard;

#endif /* WASP_ENGINE_REGCODE_H */
