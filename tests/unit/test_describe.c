/*
 * test_describe.c — the decoders of `storectl show` (client/describe.c): the Python binding's
 * metadata, array elements, what a pickle makes, text and hex. Then the same decoders over
 * random bytes, every truncation and single-byte corruptions of real samples: each input sits
 * in a heap block of exactly its size, so a read past its end is an ASan or valgrind error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "describe.h"

#define LEN(s) (sizeof(s) - 1)

static const char array_meta[] =
    "SHMPY1\n{\"kind\":\"ndarray\",\"dtype\":\"<f8\",\"shape\":[2,3],\"order\":\"C\"}";
static const char pickle2_meta[] =
    "SHMPY1\n{\"kind\":\"pickle2\",\"pickle\":[0,46],\"table\":[48,0]}";

/* pickle.dumps(geometry.Point(), protocol=5), Point having one attribute x = 1 */
static const char point_pickle[] =
    "\x80\x05\x95\x23\x00\x00\x00\x00\x00\x00\x00\x8c\x08geometry\x94\x8c\x05Point\x94\x93\x94"
    ")\x81\x94}\x94\x8c\x01x\x94K\x01sb.";
/* the same object at protocol 0: copy_reg._reconstructor(Point, object, None) */
static const char point_pickle0[] =
    "ccopy_reg\n_reconstructor\np0\n(cgeometry\nPoint\np1\nc__builtin__\nobject\np2\nNtp3\n"
    "Rp4\n(dp5\nVx\np6\nI1\nsb.";
/* pickle.dumps(numpy.arange(3, dtype="<i4"), protocol=5) */
static const char array_pickle[] =
    "\x80\x05\x95\x7f\x00\x00\x00\x00\x00\x00\x00\x8c\x12numpy.core.numeric\x94\x8c\x0b"
    "_frombuffer\x94\x93\x94(\x96\x0c\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00"
    "\x00\x02\x00\x00\x00\x94\x8c\x05numpy\x94\x8c\x05" "dtype\x94\x93\x94\x8c\x02i4\x94\x89\x88"
    "\x87\x94R\x94(K\x03\x8c\x01<\x94NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t\x94" "bK\x03\x85"
    "\x94\x8c\x01" "C\x94t\x94R\x94.";
static const char dict_pickle[] =
    "\x80\x05\x95\n\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01" "a\x94K\x01s.";
static const char tuple_pickle[] =
    "\x80\x05\x95\x0b\x00\x00\x00\x00\x00\x00\x00\x8c\x01" "a\x94\x8c\x01" "b\x94\x86\x94.";
static const char list_pickle2[] = "\x80\x02]q\x00(K\x01G@\x00\x00\x00\x00\x00\x00\x00Ne.";

/* A heap copy of exactly len bytes, so any read beyond is caught. */
static void *exact_copy(const void *data, size_t len)
{
    void *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, data, len);
    return copy;
}

static void test_meta_array(void **state)
{
    (void)state;
    struct shmpy_meta m;
    assert_int_equal(shmpy_meta_parse(array_meta, LEN(array_meta), &m), 0);
    assert_string_equal(m.kind, "ndarray");
    assert_string_equal(m.dtype, "<f8");
    assert_int_equal(m.order, 'C');
    assert_int_equal(m.ndim, 2);
    assert_int_equal(m.shape[0], 2);
    assert_int_equal(m.shape[1], 3);
}

static void test_meta_pickle_and_unknown_keys(void **state)
{
    (void)state;
    struct shmpy_meta m;
    assert_int_equal(shmpy_meta_parse(pickle2_meta, LEN(pickle2_meta), &m), 0);
    assert_string_equal(m.kind, "pickle2");
    assert_true(m.has_pickle && m.has_table);
    assert_int_equal(m.pickle_length, 46);
    assert_int_equal(m.table_offset, 48);
    static const char later[] = "SHMPY1\n{\"future\":{\"a\":[1,2.5e3,true,null,\"x\\\"y\"]},"
                                "\"kind\":\"bytes\",\"more\":false}";
    assert_int_equal(shmpy_meta_parse(later, LEN(later), &m), 0);
    assert_string_equal(m.kind, "bytes");
    static const char empty_shape[] =
        "SHMPY1\n{\"kind\":\"ndarray\",\"dtype\":\"|b1\",\"shape\":[],\"order\":\"C\"}";
    assert_int_equal(shmpy_meta_parse(empty_shape, LEN(empty_shape), &m), 0);
    assert_int_equal(m.ndim, 0);
}

static void test_meta_rejects(void **state)
{
    (void)state;
    struct shmpy_meta m;
    static const char *const bad[] = {
        "", "SHMPY1", "SHMPY1\n", "SHMPY1\n{}", "SHMPY1\n[1]", "SHMPY2\n{\"kind\":\"bytes\"}",
        "SHMPY1\n{\"kind\":1}", "SHMPY1\n{\"kind\":\"bytes\"", "SHMPY1\n{\"kind\" \"bytes\"}",
        "SHMPY1\n{\"kind\":\"ndarray\",\"shape\":[-1]}",
        "SHMPY1\n{\"kind\":\"ndarray\",\"shape\":[99999999999999999999999]}",
        ("SHMPY1\n{\"kind\":\"ndarray\",\"shape\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,"
         "20,21,22,23,24,25,26,27,28,29,30,31,32,33]}"),   /* one string: too many dimensions */
        "SHMPY1\n{\"x\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]],\"kind\":\"bytes\"}",
        "SHMPY1\n{\"kind\":\"a-kind-name-longer-than-the-buffer-holds\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *copy = exact_copy(bad[i], strlen(bad[i]));
        assert_int_equal(shmpy_meta_parse(copy, strlen(bad[i]), &m), -1);
        free(copy);
    }
}

static void test_array_values(void **state)
{
    (void)state;
    char buf[256];
    const int32_t ints[] = {-1, 2, 300000};
    assert_int_equal(array_first_values("<i4", ints, sizeof ints, 8, buf, sizeof buf), 3);
    assert_string_equal(buf, "-1, 2, 300000");
    const double doubles[] = {0.5, -2.25};
    assert_int_equal(array_first_values("<f8", doubles, sizeof doubles, 1, buf, sizeof buf), 1);
    assert_string_equal(buf, "0.5");
    const float floats[] = {1.5f};
    assert_int_equal(array_first_values("<f4", floats, sizeof floats, 8, buf, sizeof buf), 1);
    assert_string_equal(buf, "1.5");
    const unsigned char bools[] = {1, 0};
    assert_int_equal(array_first_values("|b1", bools, 2, 8, buf, sizeof buf), 2);
    assert_string_equal(buf, "True, False");
    const unsigned char big_u16[] = {0x01, 0x02, 0xff, 0xff};
    assert_int_equal(array_first_values(">u2", big_u16, 4, 8, buf, sizeof buf), 2);
    assert_string_equal(buf, "258, 65535");
    const unsigned char halves[] = {0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00};   /* 1, -2, 2^-24 */
    assert_int_equal(array_first_values("<f2", halves, 6, 8, buf, sizeof buf), 3);
    assert_string_equal(buf, "1.0, -2.0, 5.96046e-08");
    const int64_t i8[] = {INT64_MIN};
    assert_int_equal(array_first_values("<i8", i8, 8, 8, buf, sizeof buf), 1);
    assert_string_equal(buf, "-9223372036854775808");
    const int8_t i1[] = {-128, 127};
    assert_int_equal(array_first_values("|i1", i1, 2, 8, buf, sizeof buf), 2);
    assert_string_equal(buf, "-128, 127");
    /* kinds it does not decode, and payloads too short for one element */
    assert_int_equal(array_first_values("<c16", doubles, sizeof doubles, 8, buf, sizeof buf), -1);
    assert_int_equal(array_first_values("<M8[ns]", i8, 8, 8, buf, sizeof buf), -1);
    assert_int_equal(array_first_values("<U3", i8, 8, 8, buf, sizeof buf), -1);
    assert_int_equal(array_first_values("<f8", i1, 2, 8, buf, sizeof buf), -1);
    assert_int_equal(array_first_values("<i3", i1, 2, 8, buf, sizeof buf), -1);
    /* a buffer too small keeps the elements that fit */
    char small[8];
    assert_int_equal(array_first_values("<i4", ints, sizeof ints, 8, small, sizeof small), 2);
    assert_string_equal(small, "-1, 2");
}

static void test_pickle_labels(void **state)
{
    (void)state;
    static const struct {
        const char *stream;
        size_t len;
        const char *label;
    } cases[] = {
        {point_pickle, LEN(point_pickle), "geometry.Point"},
        {point_pickle0, LEN(point_pickle0), "copy_reg._reconstructor(...)"},
        {array_pickle, LEN(array_pickle), "numpy.ndarray"},
        {dict_pickle, LEN(dict_pickle), "builtins.dict"},
        {tuple_pickle, LEN(tuple_pickle), "builtins.tuple"},
        {list_pickle2, LEN(list_pickle2), "builtins.list"},
        {"\x80\x05\x8c\x04text\x94.", 10, "builtins.str"},
        {"\x80\x05\x8c\x02os\x8c\x04path\x93.", 14, "os.path (itself)"},
        {"N.", 2, "builtins.NoneType"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char label[128];
        char *copy = exact_copy(cases[i].stream, cases[i].len);
        assert_int_equal(pickle_top_label(copy, cases[i].len, label, sizeof label), 0);
        assert_string_equal(label, cases[i].label);
        free(copy);
    }
    char label[128];
    static const char *const bad[] = {"", ".", "\xff", "(.", "\x80\x05", "0.", "\x93.",
                                      "\x8c\xff", "X\xff\xff\xff\xff", "ca\nb", "}}s."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *copy = exact_copy(bad[i], strlen(bad[i]));
        assert_int_equal(pickle_top_label(copy, strlen(bad[i]), label, sizeof label), -1);
        free(copy);
    }
    /* a terminal never gets a control byte from a name in the stream */
    static const char hostile[] = "\x8c\x03\x1b[2\x8c\x01J\x93)\x81.";
    assert_int_equal(pickle_top_label(hostile, LEN(hostile), label, sizeof label), 0);
    assert_string_equal(label, "?[2.J");
    static const char c1[] = "\x8c\x04\xc2\x9b" "2J\x8c\x01x\x93.";   /* U+009B: a C1 CSI */
    assert_int_equal(pickle_top_label(c1, LEN(c1), label, sizeof label), 0);
    assert_string_equal(label, "?2J.x (itself)");
    /* deeper than the modelled stack: refused, not overflowed */
    char deep[600];
    memset(deep, '(', sizeof deep - 1);
    deep[sizeof deep - 1] = '.';
    assert_int_equal(pickle_top_label(deep, sizeof deep, label, sizeof label), -1);
}

static void test_text(void **state)
{
    (void)state;
    assert_true(looks_like_text("hello\nworld\n", 12));
    assert_true(looks_like_text("gr\xc3\xbc\xc3\x9f", 6));
    assert_true(looks_like_text("cut \xc3", 5));          /* a character cut by the end */
    assert_false(looks_like_text("nul\0byte", 8));
    assert_false(looks_like_text("\xc3\x28", 2));          /* invalid continuation */
    assert_false(looks_like_text("\xed\xa0\x80", 3));      /* a UTF-16 surrogate */
    assert_false(looks_like_text("\xc0\xaf", 2));          /* overlong */
    assert_false(looks_like_text("\x01\x02\x03 ab", 6));   /* mostly control */
    assert_false(looks_like_text("", 0));

    char *out = NULL;
    size_t out_len = 0;
    FILE *f = open_memstream(&out, &out_len);
    assert_non_null(f);
    print_text_head(f, "one\ntwo\x1b[31m\nthree\xc2\x9b\nfour\n", 29, 3);
    fclose(f);
    assert_string_equal(out, "  one\n  two\\x1b[31m\n  three\\u009b\n  ...\n");
    free(out);
}

static void test_hex(void **state)
{
    (void)state;
    char *out = NULL;
    size_t out_len = 0;
    FILE *f = open_memstream(&out, &out_len);
    assert_non_null(f);
    print_hex_head(f, "Hello\x00\x01\xff world, hex!", 21, 18);
    fclose(f);
    assert_string_equal(out,
                        "  00000000: 4865 6c6c 6f00 01ff 2077 6f72 6c64 2c20  Hello... world, \n"
                        "  00000010: 6865                                     he\n"
                        "  ... (3 more bytes)\n");
    free(out);
}

static void test_describe_array_object(void **state)
{
    (void)state;
    const double values[6] = {0, 1, 2, 3, 4, 5};
    char *out = NULL;
    size_t out_len = 0;
    FILE *f = open_memstream(&out, &out_len);
    assert_non_null(f);
    describe_contents(f, array_meta, LEN(array_meta), values, sizeof values);
    fclose(f);
    assert_string_equal(out, "python:    numpy array\ndtype:     <f8 (float64)\n"
                             "shape:     (2, 3)\norder:     C\n"
                             "values:    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]\n");
    free(out);
}

/* Every decoder over one input; the result does not matter, only that it stays in bounds. */
static void run_all(FILE *sink, const unsigned char *bytes, size_t len)
{
    struct shmpy_meta m;
    char buf[256];
    unsigned char *copy = exact_copy(bytes, len);
    (void)shmpy_meta_parse(copy, len, &m);
    (void)pickle_top_label(copy, len, buf, sizeof buf);
    (void)array_first_values("<f8", copy, len, 8, buf, sizeof buf);
    (void)array_first_values("|b1", copy, len, 8, buf, sizeof buf);
    (void)looks_like_text(copy, len);
    print_text_head(sink, copy, len, 10);
    print_hex_head(sink, copy, len, 64);
    describe_contents(sink, copy, len, copy, len);
    free(copy);
}

/* describe_contents with a Python metadata blob and a payload that may not match it. */
static void run_pair(FILE *sink, const char *meta, size_t meta_len, const unsigned char *data,
                     size_t len)
{
    char *meta_copy = exact_copy(meta, meta_len);
    unsigned char *data_copy = exact_copy(data, len);
    describe_contents(sink, meta_copy, meta_len, data_copy, len);
    free(meta_copy);
    free(data_copy);
}

static void test_fuzz(void **state)
{
    (void)state;
    FILE *sink = fopen("/dev/null", "w");
    assert_non_null(sink);
    const struct {
        const char *bytes;
        size_t len;
    } samples[] = {
        {array_meta, LEN(array_meta)},       {pickle2_meta, LEN(pickle2_meta)},
        {point_pickle, LEN(point_pickle)},   {point_pickle0, LEN(point_pickle0)},
        {array_pickle, LEN(array_pickle)},   {dict_pickle, LEN(dict_pickle)},
        {list_pickle2, LEN(list_pickle2)},   {"gr\xc3\xbc\xc3\x9f\nline\n", 12},
    };
    unsigned seed = 12345;
    /* every truncation, then corruptions of one byte at every place with a random value */
    for (size_t s = 0; s < sizeof samples / sizeof samples[0]; s++) {
        const unsigned char *b = (const unsigned char *)samples[s].bytes;
        const size_t len = samples[s].len;
        for (size_t cut = 0; cut <= len; cut++) {
            run_all(sink, b, cut);
            run_pair(sink, array_meta, LEN(array_meta), b, cut);
            run_pair(sink, pickle2_meta, LEN(pickle2_meta), b, cut);
            run_pair(sink, array_meta, cut < LEN(array_meta) ? cut : LEN(array_meta), b, len);
        }
        unsigned char *mutated = exact_copy(b, len);
        for (int round = 0; round < 20; round++) {
            for (size_t i = 0; i < len; i++) {
                const unsigned char old = mutated[i];
                mutated[i] = (unsigned char)rand_r(&seed);
                run_all(sink, mutated, len);
                run_pair(sink, pickle2_meta, LEN(pickle2_meta), mutated, len);
                mutated[i] = old;
            }
        }
        free(mutated);
    }
    /* random bytes of random lengths, biased toward pickle opcodes and JSON punctuation */
    static const char alphabet[] = "()[]{}.,:\"\\0123456789\x80\x93\x94\x95\x8c\x81RbsNKJtchq";
    unsigned char input[512];
    for (int round = 0; round < 20000; round++) {
        const size_t len = (size_t)rand_r(&seed) % sizeof input;
        for (size_t i = 0; i < len; i++) {
            const unsigned r = (unsigned)rand_r(&seed);
            input[i] = r & 1 ? (unsigned char)(r >> 8)
                             : (unsigned char)alphabet[(r >> 8) % LEN(alphabet)];
        }
        run_all(sink, input, len);
    }
    fclose(sink);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meta_array),
        cmocka_unit_test(test_meta_pickle_and_unknown_keys),
        cmocka_unit_test(test_meta_rejects),
        cmocka_unit_test(test_array_values),
        cmocka_unit_test(test_pickle_labels),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_describe_array_object),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
