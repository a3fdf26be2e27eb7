/*
 * trap.c - trap reasons, their spec wording, host-raised traps/exits and backtraces.
 *
 * A trap is recorded on the instance at the moment it happens (the interpreter, the
 * guard-page handler path in wasm_call, or a host function) together with a backtrace
 * built from the call stack while it is still intact.
 */
#include <stdio.h>
#include <string.h>

#include "regcode.h"

const char *wasm_trap_message(enum wasm_trap trap)
{
    switch (trap) {
    case WASM_TRAP_NONE:
        return "";
    case WASM_TRAP_UNREACHABLE:
        return "unreachable";
    case WASM_TRAP_MEMORY_OOB:
        return "out of bounds memory access";
    case WASM_TRAP_TABLE_OOB:
        return "out of bounds table access";
    case WASM_TRAP_UNDEFINED_ELEMENT:
        return "undefined element";
    case WASM_TRAP_UNINITIALIZED_ELEMENT:
        return "uninitialized element";
    case WASM_TRAP_INDIRECT_TYPE:
        return "indirect call type mismatch";
    case WASM_TRAP_DIV_ZERO:
        return "integer divide by zero";
    case WASM_TRAP_INT_OVERFLOW:
        return "integer overflow";
    case WASM_TRAP_INVALID_CONVERSION:
        return "invalid conversion to integer";
    case WASM_TRAP_STACK_EXHAUSTED:
        return "call stack exhausted";
    case WASM_TRAP_FUEL_EXHAUSTED:
        return "fuel exhausted";
    case WASM_TRAP_HOST:
        return "host trap";
    case WASM_TRAP_EXIT:
        return "exit";
    case WASM_TRAP_DEADLINE:
        return "execution time exceeded";
    }
    return "unknown trap";
}

const char *wasm_valtype_name(uint8_t valtype)
{
    switch (valtype) {
    case WASM_I32:
        return "i32";
    case WASM_I64:
        return "i64";
    case WASM_F32:
        return "f32";
    case WASM_F64:
        return "f64";
    case WASM_V128:
        return "v128";
    case WASM_FUNCREF:
        return "funcref";
    case WASM_EXTERNREF:
        return "externref";
    default:
        return "invalid type";
    }
}

static size_t frame_line(char *buf, size_t len, unsigned n, const struct wasm_module *m,
                         const struct wasm_code *code, const wasm_code_word *pc)
{
    const char *name = code->func_index < m->nfuncs ? m->funcs[code->func_index].name : NULL;
    /* Without a `name` section entry, an export name still says which function it is. */
    for (uint32_t i = 0; !name && i < m->nexports; i++)
        if (m->exports[i].kind == WASM_EXTERN_FUNC && m->exports[i].index == code->func_index)
            name = m->exports[i].name;
    /* The wasm instruction that produced the code at pc (the last one starting at or
     * before it), as an offset from the start of the function body. */
    long off = -1;
    if (pc && pc >= code->ins && pc <= code->ins + code->len) {
        uint32_t pos = (uint32_t)(pc - code->ins);
        const uint32_t *map = code->ins + code->len;
        uint32_t lo = 0, hi = code->nmap;
        while (lo < hi) {
            uint32_t mid = (lo + hi) / 2;
            if (map[2 * mid] <= pos)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo > 0)
            off = (long)map[2 * (lo - 1) + 1];
    }
    int w;
    if (off >= 0)
        w = snprintf(buf, len, "#%u func[%u] %s+0x%lx\n", n, code->func_index,
                     name ? name : "<unnamed>", off);
    else
        w = snprintf(buf, len, "#%u func[%u] %s\n", n, code->func_index, name ? name : "<unnamed>");
    if (w < 0)
        return 0;
    return (size_t)w < len ? (size_t)w : (len ? len - 1 : 0);
}

void wasm_record_trap(struct wasm_instance *inst, enum wasm_trap t, const wasm_code_word *pc,
                      const struct wasm_frame *entry)
{
    inst->trap = t;
    if (t != WASM_TRAP_HOST && t != WASM_TRAP_EXIT)
        snprintf(inst->trap_msg, sizeof(inst->trap_msg), "%s", wasm_trap_message(t));
    inst->trap_pc = pc;
    /* Frames entry..csp-1: the innermost is csp-1; pc belongs to it. */
    char *b = inst->backtrace;
    size_t left = sizeof(inst->backtrace);
    b[0] = 0;
    unsigned n = 0;
    const wasm_code_word *cur = pc;
    for (const struct wasm_frame *f = inst->csp; f > entry && left > 1; n++) {
        /* Callers are shown at their call instruction, just before the return address. */
        if (n > 0 && cur)
            cur--;
        f--;
        if (n >= 32) {
            snprintf(b, left, "...\n");
            break;
        }
        size_t w = frame_line(b, left, n, inst->module, f->code, cur);
        b += w;
        left -= w;
        cur = f->ret_pc;
    }
}

int wasm_trap_raise(wasm_instance_t *inst, const char *message)
{
    inst->trap = WASM_TRAP_HOST;
    snprintf(inst->trap_msg, sizeof(inst->trap_msg), "%s", message ? message : "host trap");
    return WASM_ERR_TRAP;
}

int wasm_exit_raise(wasm_instance_t *inst, int32_t code)
{
    inst->trap = WASM_TRAP_EXIT;
    inst->exit_code = code;
    snprintf(inst->trap_msg, sizeof(inst->trap_msg), "exit with code %d", code);
    return WASM_ERR_TRAP;
}

enum wasm_trap wasm_instance_trap(const wasm_instance_t *inst)
{
    return inst->trap;
}

const char *wasm_instance_trap_message(const wasm_instance_t *inst)
{
    return inst->trap == WASM_TRAP_NONE ? "" : inst->trap_msg;
}

int32_t wasm_instance_exit_code(const wasm_instance_t *inst)
{
    return inst->exit_code;
}

size_t wasm_instance_backtrace(const wasm_instance_t *inst, char *buf, size_t len)
{
    if (!len)
        return 0;
    size_t n = strlen(inst->backtrace);
    if (n >= len)
        n = len - 1;
    memcpy(buf, inst->backtrace, n);
    buf[n] = 0;
    return n;
}
