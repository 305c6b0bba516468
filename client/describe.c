/*
 * describe.c — the decoders behind `storectl show`.
 *
 * An object's bytes come from any program, so everything here treats them as hostile: every
 * read is checked against the end of its range first, lengths found in the bytes are compared
 * with what is left before they are used, and the loops are bounded (a JSON nesting limit, a
 * cap on pickle opcodes and on the modelled stack) so that no input can make `show` read out of
 * bounds or run for long.
 *
 * The Python binding's metadata is "SHMPY1\n" and one JSON object (python/shmstore/__init__.py
 * documents it); a small JSON reader takes the few keys `show` prints and skips the rest. Arrays
 * show dtype, shape, order and their first elements. A pickle is followed opcode by opcode over
 * a model of the unpickler's stack that keeps only what each item is (a dict, a string, a
 * global, an object made by calling a global), which tells what the stream's top object is
 * without running anything it names.
 */
#include "describe.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char shmpy_magic[] = "SHMPY1\n";

/* ---- a bounded JSON reader -------------------------------------------------------------- */

#define JSON_DEPTH_MAX 16

struct json_in {
    const unsigned char *p, *end;
};

static void json_ws(struct json_in *in)
{
    while (in->p < in->end && (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' ||
                               *in->p == '\r'))
        in->p++;
}

static int json_take(struct json_in *in, unsigned char ch)
{
    json_ws(in);
    if (in->p >= in->end || *in->p != ch)
        return -1;
    in->p++;
    return 0;
}

/* A string into buf (NUL-terminated), or skipped when buf is NULL. Escapes other than \uXXXX
 * keep their character; \uXXXX becomes '?' (the keys and values read here are ASCII). -1 for a
 * malformed string or one longer than buf. */
static int json_string(struct json_in *in, char *buf, size_t buflen)
{
    if (json_take(in, '"') != 0)
        return -1;
    size_t len = 0;
    while (in->p < in->end && *in->p != '"') {
        unsigned char ch = *in->p++;
        if (ch < 0x20)
            return -1;
        if (ch == '\\') {
            if (in->p >= in->end)
                return -1;
            ch = *in->p++;
            if (ch == 'u') {
                if (in->end - in->p < 4)
                    return -1;
                in->p += 4;
                ch = '?';
            }
        }
        if (buf) {
            if (len + 1 >= buflen)
                return -1;
            buf[len++] = (char)ch;
        }
    }
    if (in->p >= in->end)
        return -1;
    in->p++;
    if (buf)
        buf[len] = '\0';
    return 0;
}

static int json_uint(struct json_in *in, uint64_t *out)
{
    json_ws(in);
    if (in->p >= in->end || *in->p < '0' || *in->p > '9')
        return -1;
    uint64_t value = 0;
    while (in->p < in->end && *in->p >= '0' && *in->p <= '9') {
        unsigned digit = (unsigned)(*in->p++ - '0');
        if (value > (UINT64_MAX - digit) / 10)
            return -1;
        value = value * 10 + digit;
    }
    *out = value;
    return 0;
}

static int json_skip(struct json_in *in, int depth);

/* Skips an array or object, whose opening bracket is next (json_skip checked it is there). */
static int json_skip_container(struct json_in *in, int depth)
{
    json_ws(in);
    const unsigned char open = *in->p++;
    const unsigned char close = open == '[' ? ']' : '}';
    json_ws(in);
    if (in->p < in->end && *in->p == close) {
        in->p++;
        return 0;
    }
    for (;;) {
        if (open == '{' && (json_string(in, NULL, 0) != 0 || json_take(in, ':') != 0))
            return -1;
        if (json_skip(in, depth + 1) != 0)
            return -1;
        json_ws(in);
        if (in->p >= in->end)
            return -1;
        if (*in->p == close) {
            in->p++;
            return 0;
        }
        if (*in->p++ != ',')
            return -1;
    }
}

static int json_skip(struct json_in *in, int depth)
{
    if (depth > JSON_DEPTH_MAX)
        return -1;
    json_ws(in);
    if (in->p >= in->end)
        return -1;
    const unsigned char ch = *in->p;
    if (ch == '"')
        return json_string(in, NULL, 0);
    if (ch == '[' || ch == '{')
        return json_skip_container(in, depth);
    /* numbers and true/false/null: a run of the characters they are made of */
    const unsigned char *start = in->p;
    while (in->p < in->end && *in->p && strchr("+-.0123456789eEtruefalsn", *in->p))
        in->p++;
    return in->p > start ? 0 : -1;
}

/* "[a, b]" of two unsigned integers. */
static int json_uint_pair(struct json_in *in, uint64_t *a, uint64_t *b)
{
    return json_take(in, '[') || json_uint(in, a) || json_take(in, ',') || json_uint(in, b) ||
                   json_take(in, ']')
               ? -1
               : 0;
}

static int json_shape(struct json_in *in, struct shmpy_meta *out)
{
    if (json_take(in, '[') != 0)
        return -1;
    out->ndim = 0;
    json_ws(in);
    if (in->p < in->end && *in->p == ']') {
        in->p++;
        return 0;
    }
    for (;;) {
        if (out->ndim == SHMPY_NDIM_MAX || json_uint(in, &out->shape[out->ndim]) != 0)
            return -1;
        out->ndim++;
        json_ws(in);
        if (in->p >= in->end)
            return -1;
        if (*in->p == ']') {
            in->p++;
            return 0;
        }
        if (*in->p++ != ',')
            return -1;
    }
}

int shmpy_meta_parse(const void *meta, size_t meta_size, struct shmpy_meta *out)
{
    const size_t magic_len = sizeof shmpy_magic - 1;
    if (!meta || meta_size < magic_len || memcmp(meta, shmpy_magic, magic_len) != 0)
        return -1;
    memset(out, 0, sizeof *out);
    struct json_in in = {(const unsigned char *)meta + magic_len,
                         (const unsigned char *)meta + meta_size};
    if (json_take(&in, '{') != 0)
        return -1;
    json_ws(&in);
    if (in.p < in.end && *in.p == '}')
        return -1;   /* no "kind" */
    for (;;) {
        char key[64];   /* a longer key is unusual enough to give up on the whole */
        int rc;
        if (json_string(&in, key, sizeof key) != 0 || json_take(&in, ':') != 0)
            return -1;
        if (strcmp(key, "kind") == 0) {
            rc = json_string(&in, out->kind, sizeof out->kind);
        } else if (strcmp(key, "dtype") == 0) {
            rc = json_string(&in, out->dtype, sizeof out->dtype);
        } else if (strcmp(key, "order") == 0) {
            char order[4];
            rc = json_string(&in, order, sizeof order);
            out->order = rc == 0 && strlen(order) == 1 ? order[0] : '?';
        } else if (strcmp(key, "shape") == 0) {
            rc = json_shape(&in, out);
        } else if (strcmp(key, "pickle") == 0) {
            rc = json_uint_pair(&in, &out->pickle_offset, &out->pickle_length);
            out->has_pickle = rc == 0;
        } else if (strcmp(key, "table") == 0) {
            rc = json_uint_pair(&in, &out->table_offset, &out->table_count);
            out->has_table = rc == 0;
        } else {
            rc = json_skip(&in, 1);
        }
        if (rc != 0)
            return -1;
        json_ws(&in);
        if (in.p >= in.end)
            return -1;
        if (*in.p == '}')
            break;
        if (*in.p++ != ',')
            return -1;
    }
    return out->kind[0] ? 0 : -1;
}

/* ---- array elements --------------------------------------------------------------------- */

/* A dtype string of a plain number: byte order, kind, item size. 0 and the parts, or -1. */
static int parse_number_dtype(const char *dtype, int *big_endian, char *kind, size_t *itemsize)
{
    static const uint16_t one = 1;
    const int host_big = *(const unsigned char *)&one == 0;
    if (strlen(dtype) < 3 || !strchr("<>|=", dtype[0]) || !dtype[0])
        return -1;
    *big_endian = dtype[0] == '>' || (dtype[0] == '=' && host_big);
    *kind = dtype[1];
    size_t size = 0;
    for (const char *p = dtype + 2; *p; p++) {
        if (*p < '0' || *p > '9' || size > 64)
            return -1;
        size = size * 10 + (size_t)(*p - '0');
    }
    const int ok = (*kind == 'b' && size == 1) ||
                   ((*kind == 'i' || *kind == 'u') &&
                    (size == 1 || size == 2 || size == 4 || size == 8)) ||
                   (*kind == 'f' && (size == 2 || size == 4 || size == 8));
    *itemsize = size;
    return ok ? 0 : -1;
}

static uint64_t load_uint(const unsigned char *p, size_t size, int big_endian)
{
    uint64_t value = 0;
    for (size_t i = 0; i < size; i++)
        value |= (uint64_t)p[big_endian ? size - 1 - i : i] << (8 * i);
    return value;
}

/* 2 to the power e, for the small exponents of a half float (no libm needed). */
static double power_of_two(int e)
{
    double value = 1.0;
    for (; e > 0; e--)
        value *= 2;
    for (; e < 0; e++)
        value /= 2;
    return value;
}

static double half_to_double(uint16_t h)
{
    const int sign = h >> 15, exponent = (h >> 10) & 0x1f, fraction = h & 0x3ff;
    double value;
    if (exponent == 0)
        value = fraction * power_of_two(-24);   /* subnormal */
    else if (exponent == 31)
        value = fraction ? (double)NAN : (double)INFINITY;
    else
        value = (1.0 + fraction / 1024.0) * power_of_two(exponent - 15);
    return sign ? -value : value;
}

/* One element as Python shows it. */
static void format_element(char kind, size_t itemsize, uint64_t bits, char *buf, size_t len)
{
    if (kind == 'b') {
        snprintf(buf, len, "%s", bits ? "True" : "False");
    } else if (kind == 'u') {
        snprintf(buf, len, "%" PRIu64, bits);
    } else if (kind == 'i') {
        const unsigned shift = (unsigned)(64 - 8 * itemsize);   /* sign-extend */
        const int64_t value = shift ? (int64_t)(bits << shift) >> shift : (int64_t)bits;
        snprintf(buf, len, "%" PRId64, value);
    } else {
        double value;
        if (itemsize == 2) {
            value = half_to_double((uint16_t)bits);
        } else if (itemsize == 4) {
            uint32_t word = (uint32_t)bits;
            float f;
            memcpy(&f, &word, sizeof f);
            value = f;
        } else {
            memcpy(&value, &bits, sizeof value);
        }
        /* as Python writes a float: a whole number keeps its ".0" */
        const int n = snprintf(buf, len, "%.6g", value);
        if (n > 0 && (size_t)n + 2 < len && !strpbrk(buf, ".eni"))
            memcpy(buf + n, ".0", 3);
    }
}

int array_first_values(const char *dtype, const void *data, size_t size, size_t count_max,
                       char *buf, size_t buflen)
{
    int big_endian;
    char kind;
    size_t itemsize;
    if (buflen == 0 || parse_number_dtype(dtype, &big_endian, &kind, &itemsize) != 0)
        return -1;
    const size_t available = data ? size / itemsize : 0;
    if (available == 0 && count_max > 0)
        return -1;
    const size_t count = count_max < available ? count_max : available;
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        char element[48];
        const uint64_t bits =
            load_uint((const unsigned char *)data + i * itemsize, itemsize, big_endian);
        format_element(kind, itemsize, bits, element, sizeof element);
        int n = snprintf(buf + used, buflen - used, "%s%s", i ? ", " : "", element);
        if (n < 0 || (size_t)n >= buflen - used) {
            buf[used] = '\0';   /* cut: the elements that fit stay, whole */
            return (int)i;
        }
        used += (size_t)n;
    }
    return (int)count;
}

/* ---- pickle ----------------------------------------------------------------------------- */

/* What an item on the modelled unpickler stack is. */
enum pk_kind {
    PK_MARK,
    PK_TYPE,    /* an instance of a builtin type, named by .type */
    PK_STR,     /* a str, its bytes in .a (needed by STACK_GLOBAL) */
    PK_GLOBAL,  /* a global (class or function): module .a, name .b */
    PK_MADE,    /* an object made from a global: by instantiating it, or by calling it (.called) */
};

struct pk_item {
    enum pk_kind kind;
    const char *type;
    const unsigned char *a, *b;
    size_t alen, blen;
    int called;
};

#define PK_STACK_MAX 256
#define PK_MEMO_MAX 256
#define PK_OPS_MAX 1000000

/* How an opcode's argument is laid out. */
enum pk_arg { ARG_NONE, ARG_FIXED, ARG_LEN, ARG_LINE, ARG_TWO_LINES, ARG_BAD };

struct pk_machine {
    struct pk_item stack[PK_STACK_MAX];
    size_t depth;
    struct pk_item memo[PK_MEMO_MAX];
    int memo_set[PK_MEMO_MAX];
    uint64_t memo_len;   /* MEMOIZE's next index */
};

static int pk_push(struct pk_machine *m, struct pk_item item)
{
    if (m->depth == PK_STACK_MAX)
        return -1;
    m->stack[m->depth++] = item;
    return 0;
}

static int pk_push_type(struct pk_machine *m, const char *type)
{
    struct pk_item item = {.kind = PK_TYPE, .type = type};
    return pk_push(m, item);
}

static int pk_pop(struct pk_machine *m, struct pk_item *out)
{
    if (m->depth == 0 || m->stack[m->depth - 1].kind == PK_MARK)
        return -1;
    m->depth--;
    if (out)
        *out = m->stack[m->depth];
    return 0;
}

/* Pops down to and including the topmost mark; *first gets the item just above it, if any. */
static int pk_pop_mark(struct pk_machine *m, struct pk_item *first, int *has_first)
{
    size_t i = m->depth;
    while (i > 0 && m->stack[i - 1].kind != PK_MARK)
        i--;
    if (i == 0)
        return -1;
    if (has_first)
        *has_first = i < m->depth;
    if (first && i < m->depth)
        *first = m->stack[i];
    m->depth = i - 1;
    return 0;
}

/* The item an object made from `maker` is. */
static struct pk_item pk_made(const struct pk_item *maker, int called)
{
    struct pk_item item = {.kind = PK_TYPE, .type = "object"};
    if (maker->kind == PK_GLOBAL) {
        item = *maker;
        item.kind = PK_MADE;
        item.called = called;
    }
    return item;
}

/* MARK items... -> one item of a builtin type. */
static int pk_collect(struct pk_machine *m, const char *type)
{
    return pk_pop_mark(m, NULL, NULL) == 0 ? pk_push_type(m, type) : -1;
}

/* The memo index of a protocol 0 GET or PUT; UINT64_MAX (never kept) when it is not digits. */
static uint64_t pk_decimal(const unsigned char *text, size_t len)
{
    uint64_t index = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9' || index > UINT32_MAX)
            return UINT64_MAX;
        index = index * 10 + (uint64_t)(text[i] - '0');
    }
    return len ? index : UINT64_MAX;
}

static void pk_memo_put(struct pk_machine *m, uint64_t index)
{
    if (m->depth > 0 && index < PK_MEMO_MAX) {
        m->memo[index] = m->stack[m->depth - 1];
        m->memo_set[index] = 1;
    }
}

static int pk_memo_get(struct pk_machine *m, uint64_t index)
{
    if (index < PK_MEMO_MAX && m->memo_set[index])
        return pk_push(m, m->memo[index]);
    return pk_push_type(m, "object");   /* beyond what is kept: an object all the same */
}

/* The layout of opcode op's argument: the fixed size, or the size of its length prefix. */
static enum pk_arg pk_arg_of(unsigned char op, size_t *size)
{
    *size = 0;
    switch (op) {
    case 'K': case 'h': case 'q': case 0x82: case 0x80: *size = 1; return ARG_FIXED;
    case 'M': case 0x83: *size = 2; return ARG_FIXED;
    case 'J': case 'j': case 'r': case 0x84: *size = 4; return ARG_FIXED;
    case 'G': case 0x95: *size = 8; return ARG_FIXED;
    case 'U': case 'C': case 0x8c: case 0x8a: *size = 1; return ARG_LEN;
    case 'T': case 'B': case 'X': case 0x8b: *size = 4; return ARG_LEN;
    case 0x8d: case 0x8e: case 0x96: *size = 8; return ARG_LEN;
    case 'I': case 'L': case 'F': case 'S': case 'V': case 'P': case 'g': case 'p':
        return ARG_LINE;
    case 'c': case 'i': return ARG_TWO_LINES;
    case '(': case '.': case '0': case '1': case '2': case 'N': case 0x88: case 0x89:
    case '}': case ']': case ')': case 't': case 0x85: case 0x86: case 0x87: case 'a':
    case 'e': case 'b': case 'd': case 'l': case 'o': case 'R': case 's': case 'u':
    case 0x81: case 0x92: case 0x93: case 0x94: case 0x8f: case 0x90: case 0x91: case 'Q':
    case 0x97: case 0x98:
        return ARG_NONE;
    default: return ARG_BAD;
    }
}

/* Bytes of a text line from p, without its newline; -1 when no newline comes before end. */
static int pk_line(const unsigned char *p, const unsigned char *end, size_t *len)
{
    const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl)
        return -1;
    *len = (size_t)(nl - p);
    return 0;
}

/* Appends `len` bytes of a name from the stream to buf, characters that could disturb a terminal
 * (C0 controls, DEL, and the C1 controls U+0080..U+009F, 0xc2 0x80..0x9f in UTF-8) replaced by
 * '?'. */
static void append_name(char *buf, size_t buflen, size_t *used, const unsigned char *s,
                        size_t len)
{
    for (size_t i = 0; i < len && *used + 1 < buflen; i++) {
        const int c1 = s[i] == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f;
        if (c1)
            i++;
        buf[(*used)++] = c1 || s[i] < 0x20 || s[i] == 0x7f ? '?' : (char)s[i];
    }
    buf[*used] = '\0';
}

static int bytes_are(const unsigned char *s, size_t len, const char *text)
{
    return len == strlen(text) && memcmp(s, text, len) == 0;
}

/* numpy pickles an array as a call of numpy.core.numeric._frombuffer (numpy._core in numpy 2)
 * or, for arrays of objects, numpy.core.multiarray._reconstruct: the label says what it makes. */
static int is_numpy_array_maker(const struct pk_item *item)
{
    const int numeric = bytes_are(item->a, item->alen, "numpy.core.numeric") ||
                        bytes_are(item->a, item->alen, "numpy._core.numeric");
    const int multiarray = bytes_are(item->a, item->alen, "numpy.core.multiarray") ||
                           bytes_are(item->a, item->alen, "numpy._core.multiarray");
    return (numeric && bytes_are(item->b, item->blen, "_frombuffer")) ||
           (multiarray && bytes_are(item->b, item->blen, "_reconstruct"));
}

static void pk_label(const struct pk_item *top, char *buf, size_t buflen)
{
    size_t used = 0;
    buf[0] = '\0';
    switch (top->kind) {
    case PK_TYPE:
        snprintf(buf, buflen, "builtins.%s", top->type);
        return;
    case PK_STR:
        snprintf(buf, buflen, "builtins.str");
        return;
    case PK_GLOBAL:
    case PK_MADE:
        if (top->kind == PK_MADE && top->called && is_numpy_array_maker(top)) {
            snprintf(buf, buflen, "numpy.ndarray");
            return;
        }
        append_name(buf, buflen, &used, top->a, top->alen);
        append_name(buf, buflen, &used, (const unsigned char *)".", 1);
        append_name(buf, buflen, &used, top->b, top->blen);
        if (top->kind == PK_MADE && top->called)
            append_name(buf, buflen, &used, (const unsigned char *)"(...)", 5);
        else if (top->kind == PK_GLOBAL)
            append_name(buf, buflen, &used, (const unsigned char *)" (itself)", 9);
        return;
    case PK_MARK:
        return;
    }
}

/* Runs one opcode whose argument (arg, arg_len; for two lines also arg2, arg2_len) has been
 * read: its effect on the modelled stack. 1 at STOP, 0 to go on, -1 when the stream is not one
 * this model follows. */
static int pk_step(struct pk_machine *m, unsigned char op, const unsigned char *arg,
                   size_t arg_len, uint64_t arg_value, const unsigned char *arg2, size_t arg2_len)
{
    struct pk_item x, y, z;
    int has;
    switch (op) {
    case '.': return 1;
    case '(': { struct pk_item mark = {.kind = PK_MARK}; return pk_push(m, mark); }
    case '0': return pk_pop(m, NULL);
    case '1': return pk_pop_mark(m, NULL, NULL);
    case '2': return m->depth ? pk_push(m, m->stack[m->depth - 1]) : -1;
    case 'N': return pk_push_type(m, "NoneType");
    case 0x88: case 0x89: return pk_push_type(m, "bool");
    case 'K': case 'M': case 'J': case 0x8a: case 0x8b: case 'I': case 'L':
        return pk_push_type(m, "int");
    case 'G': case 'F': return pk_push_type(m, "float");
    case 'X': case 0x8c: case 0x8d: case 'V': {
        struct pk_item s = {.kind = PK_STR, .a = arg, .alen = arg_len};
        return pk_push(m, s);
    }
    case 'U': case 'T': case 'S': case 'C': case 'B': case 0x8e:
        return pk_push_type(m, op == 'C' || op == 'B' || op == 0x8e ? "bytes" : "str");
    case 0x96: return pk_push_type(m, "bytearray");
    case 0x97: return pk_push_type(m, "PickleBuffer");
    case 0x98: return m->depth && m->stack[m->depth - 1].kind != PK_MARK ? 0 : -1;
    case '}': return pk_push_type(m, "dict");
    case ']': return pk_push_type(m, "list");
    case ')': return pk_push_type(m, "tuple");
    case 0x8f: return pk_push_type(m, "set");
    case 'd': return pk_collect(m, "dict");
    case 'l': return pk_collect(m, "list");
    case 't': return pk_collect(m, "tuple");
    case 0x91: return pk_collect(m, "frozenset");
    case 0x85: case 0x86: case 0x87:
        for (int i = 0; i < op - 0x84; i++)
            if (pk_pop(m, NULL) != 0)
                return -1;
        return pk_push_type(m, "tuple");
    case 'a': case 'b':   /* append to, or set the state of, the item below */
        return pk_pop(m, NULL);
    case 's': return pk_pop(m, NULL) == 0 && pk_pop(m, NULL) == 0 ? 0 : -1;
    case 'e': case 'u': case 0x90:   /* add the items above the mark to the item below it */
        return pk_pop_mark(m, NULL, NULL) == 0 && m->depth > 0 ? 0 : -1;
    case 'Q': return pk_pop(m, NULL) == 0 ? pk_push_type(m, "object") : -1;
    case 'P': case 0x82: case 0x83: case 0x84: return pk_push_type(m, "object");
    case 'c': {
        struct pk_item g = {.kind = PK_GLOBAL, .a = arg, .alen = arg_len, .b = arg2,
                            .blen = arg2_len};
        return pk_push(m, g);
    }
    case 0x93:
        if (pk_pop(m, &y) || pk_pop(m, &x) || x.kind != PK_STR || y.kind != PK_STR)
            return -1;
        {
            struct pk_item g = {.kind = PK_GLOBAL, .a = x.a, .alen = x.alen, .b = y.a,
                                .blen = y.alen};
            return pk_push(m, g);
        }
    case 'R':   /* callable, args -> callable(*args) */
        if (pk_pop(m, NULL) || pk_pop(m, &x))
            return -1;
        return pk_push(m, pk_made(&x, 1));
    case 0x81:  /* cls, args -> cls.__new__(cls, *args) */
        if (pk_pop(m, NULL) || pk_pop(m, &x))
            return -1;
        return pk_push(m, pk_made(&x, 0));
    case 0x92:  /* cls, args, kwargs */
        if (pk_pop(m, NULL) || pk_pop(m, NULL) || pk_pop(m, &x))
            return -1;
        return pk_push(m, pk_made(&x, 0));
    case 'o':   /* MARK cls args... */
        if (pk_pop_mark(m, &z, &has) || !has)
            return -1;
        return pk_push(m, pk_made(&z, 0));
    case 'i': { /* MARK args... with the class in the argument */
        struct pk_item g = {.kind = PK_GLOBAL, .a = arg, .alen = arg_len, .b = arg2,
                            .blen = arg2_len};
        return pk_pop_mark(m, NULL, NULL) == 0 ? pk_push(m, pk_made(&g, 0)) : -1;
    }
    case 'h': case 'j': return pk_memo_get(m, arg_value);
    case 'g': return pk_memo_get(m, pk_decimal(arg, arg_len));
    case 'q': case 'r': pk_memo_put(m, arg_value); return m->depth ? 0 : -1;
    case 'p': pk_memo_put(m, pk_decimal(arg, arg_len)); return m->depth ? 0 : -1;
    case 0x94: pk_memo_put(m, m->memo_len++); return m->depth ? 0 : -1;
    case 0x80: case 0x95: return 0;   /* PROTO, FRAME: no effect on the stack */
    default: return -1;
    }
}

int pickle_top_label(const void *stream, size_t size, char *buf, size_t buflen)
{
    if (!stream || buflen == 0)
        return -1;
    struct pk_machine *m = calloc(1, sizeof *m);
    if (!m)
        return -1;
    const unsigned char *p = stream, *end = p + size;
    int rc = -1;
    for (long ops = 0; ops < PK_OPS_MAX && p < end; ops++) {
        const unsigned char op = *p++;
        size_t field = 0, arg_len = 0, arg2_len = 0;
        const unsigned char *arg = p, *arg2 = NULL;
        uint64_t arg_value = 0;
        const enum pk_arg layout = pk_arg_of(op, &field);
        if (layout == ARG_BAD)
            break;
        if (layout == ARG_FIXED || layout == ARG_LEN) {
            if ((size_t)(end - p) < field)
                break;
            arg_value = load_uint(p, field, 0);
            p += field;
            arg = p;
            if (layout == ARG_LEN) {
                if (arg_value > (uint64_t)(end - p))
                    break;
                arg_len = (size_t)arg_value;
                p += arg_len;
            }
        } else if (layout == ARG_LINE || layout == ARG_TWO_LINES) {
            if (pk_line(p, end, &arg_len) != 0)
                break;
            p += arg_len + 1;
            if (layout == ARG_TWO_LINES) {
                arg2 = p;
                if (pk_line(p, end, &arg2_len) != 0)
                    break;
                p += arg2_len + 1;
            }
        }
        const int step = pk_step(m, op, arg, arg_len, arg_value, arg2, arg2_len);
        if (step < 0)
            break;
        if (step == 1) {
            if (m->depth > 0 && m->stack[m->depth - 1].kind != PK_MARK) {
                pk_label(&m->stack[m->depth - 1], buf, buflen);
                rc = 0;
            }
            break;
        }
    }
    free(m);
    return rc;
}

/* ---- text and bytes --------------------------------------------------------------------- */

#define TEXT_WINDOW (64 * 1024)

/* Length of the UTF-8 sequence at p (at most `left` bytes there): 1 to 4, 0 when invalid, -1
 * when cut short by the end. */
static int utf8_sequence(const unsigned char *p, size_t left)
{
    const unsigned char b = p[0];
    int len;
    unsigned min;
    if (b < 0x80)
        return 1;
    if (b >= 0xc2 && b <= 0xdf) {
        len = 2;
        min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
        len = 3;
        min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    uint32_t cp = b & (0x7f >> len);
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= left)
            return -1;
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

int looks_like_text(const void *data, size_t size)
{
    if (!data || size == 0)
        return 0;
    const unsigned char *p = data;
    const size_t window = size < TEXT_WINDOW ? size : TEXT_WINDOW;
    size_t chars = 0, controls = 0;
    for (size_t i = 0; i < window;) {
        const int len = utf8_sequence(p + i, window - i);
        if (len < 0)
            break;   /* a character cut by the window or the end */
        if (len == 0 || p[i] == 0)
            return 0;
        if ((p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r') || p[i] == 0x7f)
            controls++;
        chars++;
        i += (size_t)len;
    }
    return chars > 0 && controls * 20 <= chars;
}

#define TEXT_LINE_MAX 160

void print_text_head(FILE *out, const void *data, size_t size, size_t lines_max)
{
    const unsigned char *p = data, *end = p + (data ? size : 0);
    for (size_t line = 0; p < end; line++) {
        if (line == lines_max) {
            fputs("  ...\n", out);
            return;
        }
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        const unsigned char *line_end = nl ? nl : end;
        size_t len = (size_t)(line_end - p);
        const int cut = len > TEXT_LINE_MAX;
        if (cut) {
            len = TEXT_LINE_MAX;
            while (len > 0 && (p[len] & 0xc0) == 0x80)   /* never split a character */
                len--;
        }
        fputs("  ", out);
        for (size_t i = 0; i < len; i++) {
            const unsigned char ch = p[i];
            /* C0 controls, DEL, and the C1 controls U+0080..U+009F (0xc2 0x80..0x9f): a
             * terminal may act on them */
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
                fprintf(out, "\\x%02x", ch);
            } else if (ch == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f) {
                fprintf(out, "\\u%04x", p[i + 1]);
                i++;
            } else {
                putc(ch, out);
            }
        }
        fputs(cut ? " ...\n" : "\n", out);
        p = nl ? nl + 1 : end;
    }
}

void print_hex_head(FILE *out, const void *data, size_t size, size_t bytes_max)
{
    const unsigned char *p = data;
    const size_t n = data ? (size < bytes_max ? size : bytes_max) : 0;
    for (size_t row = 0; row < n; row += 16) {
        fprintf(out, "  %08zx: ", row);
        for (size_t i = row; i < row + 16; i++) {
            if (i < n)
                fprintf(out, "%02x", p[i]);
            else
                fputs("  ", out);
            if (i % 2 == 1)
                putc(' ', out);
        }
        putc(' ', out);
        for (size_t i = row; i < row + 16 && i < n; i++)
            putc(p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '.', out);
        putc('\n', out);
    }
    if (data && size > n)
        fprintf(out, "  ... (%zu more bytes)\n", size - n);
}

/* ---- the whole description -------------------------------------------------------------- */

#define SHOW_VALUES 8
#define SHOW_LINES 10
#define SHOW_HEX 256

static const char *number_dtype_name(const char *dtype, char *buf, size_t len)
{
    int big_endian;
    char kind;
    size_t itemsize;
    if (parse_number_dtype(dtype, &big_endian, &kind, &itemsize) != 0)
        return NULL;
    if (kind == 'b')
        snprintf(buf, len, "bool");
    else
        snprintf(buf, len, "%s%zu", kind == 'i' ? "int" : kind == 'u' ? "uint" : "float",
                 itemsize * 8);
    return buf;
}

/* A string from the metadata, safe for a terminal. */
static const char *safe(const char *text, char *buf, size_t len)
{
    size_t used = 0;
    append_name(buf, len, &used, (const unsigned char *)text, strlen(text));
    return buf;
}

static void describe_array(FILE *out, const struct shmpy_meta *m, const void *data, size_t size)
{
    char dtype[64], name[32];
    const char *friendly = number_dtype_name(m->dtype, name, sizeof name);
    fprintf(out, "python:    numpy array\ndtype:     %s%s%s%s\nshape:     (",
            safe(m->dtype, dtype, sizeof dtype), friendly ? " (" : "", friendly ? friendly : "",
            friendly ? ")" : "");
    uint64_t elements = 1;
    int overflow = 0;
    for (size_t i = 0; i < m->ndim; i++) {
        fprintf(out, "%s%" PRIu64, i ? ", " : "", m->shape[i]);
        if (m->shape[i] && elements > UINT64_MAX / m->shape[i])
            overflow = 1;
        elements *= m->shape[i];
    }
    fprintf(out, "%s)\norder:     %c\n", m->ndim == 1 ? "," : "",
            m->order >= 0x20 && m->order < 0x7f ? m->order : '?');
    char values[512];
    const size_t want = overflow || elements > SHOW_VALUES ? SHOW_VALUES : (size_t)elements;
    const int shown = array_first_values(m->dtype, data, size, want, values, sizeof values);
    if (shown >= 0)
        fprintf(out, "values:    [%s%s]%s\n", values,
                overflow || (uint64_t)shown < elements ? ", ..." : "",
                m->order == 'F' && m->ndim > 1 ? " (memory order)" : "");
}

static void describe_pickle(FILE *out, const struct shmpy_meta *m, const void *data, size_t size)
{
    fprintf(out, "python:    pickled object (%s)\n",
            strcmp(m->kind, "pickle2") == 0 ? "protocol 5, buffers in the payload"
                                            : "protocol 5, buffers in the metadata");
    if (m->has_table)
        fprintf(out, "buffers:   %" PRIu64 " out of band\n", m->table_count);
    char label[256];
    if (!m->has_pickle || !data || m->pickle_offset > size ||
        m->pickle_length > size - m->pickle_offset) {
        fprintf(out, "class:     ? (the metadata places the pickle outside the payload)\n");
        return;
    }
    if (pickle_top_label((const unsigned char *)data + m->pickle_offset,
                         (size_t)m->pickle_length, label, sizeof label) == 0) {
        const size_t len = strlen(label);
        const int called = len > 5 && strcmp(label + len - 5, "(...)") == 0;
        fprintf(out, "%s%s\n", called ? "made by:   " : "class:     ", label);
    }
    else
        fprintf(out, "class:     ? (not a pickle this storectl can follow)\n");
}

static void describe_payload(FILE *out, const void *data, size_t size)
{
    if (size == 0) {
        fprintf(out, "payload:   empty\n");
    } else if (looks_like_text(data, size)) {
        fprintf(out, "text:\n");
        print_text_head(out, data, size, SHOW_LINES);
    } else {
        fprintf(out, "bytes:\n");
        print_hex_head(out, data, size, SHOW_HEX);
    }
}

void describe_contents(FILE *out, const void *meta, size_t meta_size, const void *data,
                       size_t size)
{
    struct shmpy_meta m;
    if (shmpy_meta_parse(meta, meta_size, &m) == 0) {
        char kind[64];
        if (strcmp(m.kind, "ndarray") == 0) {
            describe_array(out, &m, data, size);
            return;
        }
        if (strcmp(m.kind, "pickle2") == 0 || strcmp(m.kind, "pickle") == 0) {
            describe_pickle(out, &m, data, size);
            return;
        }
        if (strcmp(m.kind, "bytes") == 0)
            fprintf(out, "python:    bytes\n");
        else
            fprintf(out, "python:    kind \"%s\" (unknown to this storectl)\n",
                    safe(m.kind, kind, sizeof kind));
    } else if (meta_size > 0 && looks_like_text(meta, meta_size)) {
        fprintf(out, "meta:\n");
        print_text_head(out, meta, meta_size, 3);
    } else if (meta_size > 0) {
        fprintf(out, "meta:      binary\n");
        print_hex_head(out, meta, meta_size, 64);
    }
    describe_payload(out, data, size);
}
