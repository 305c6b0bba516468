/*
 * describe.h — what `storectl show` says about an object's bytes: the Python binding's metadata
 * (arrays, pickles), text, or a hex dump. Pure functions over untrusted byte ranges: they never
 * read outside the ranges they are given, whatever the bytes.
 */
#ifndef STORECTL_DESCRIBE_H
#define STORECTL_DESCRIBE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Most dimensions of an array `show` reads; more make the metadata unreadable to it. */
#define SHMPY_NDIM_MAX 32

/* The Python binding's metadata ("SHMPY1\n" and a JSON object), the keys `show` uses. */
struct shmpy_meta {
    char kind[16];            /* "ndarray", "bytes", "pickle2", "pickle", or another kind */
    char dtype[32];           /* ndarray: numpy's dtype.str, e.g. "<f8" */
    char order;               /* ndarray: 'C' or 'F' */
    size_t ndim;
    uint64_t shape[SHMPY_NDIM_MAX];
    int has_pickle;           /* pickle, pickle2: where the stream is in the payload */
    uint64_t pickle_offset, pickle_length;
    int has_table;            /* pickle2: its out-of-band buffer table */
    uint64_t table_offset, table_count;
};

/* 0 and *out filled when meta is the Python binding's (the magic, then a JSON object whose
 * "kind" is a string); -1 otherwise, including for malformed JSON. */
int shmpy_meta_parse(const void *meta, size_t meta_size, struct shmpy_meta *out);

/* Writes the first values of an array, "[0, 1, 2, ...]", to buf: at most `count_max` elements,
 * in memory order, of a dtype of kind b, i, u or f with a size numpy gives them (f2 included).
 * Returns the number of elements written, or -1 when the dtype is of another kind (complex,
 * datetime, strings...) or the payload holds fewer bytes than one element. */
int array_first_values(const char *dtype, const void *data, size_t size, size_t count_max,
                       char *buf, size_t buflen);

/* What a pickle stream makes, in words: "builtins.dict", "mymodule.Point" (a class
 * instantiated), "numpy.core.numeric._frombuffer(...)" (the result of calling a global). Found
 * by running the stream's opcodes over a small model of the unpickler's stack, with bounded
 * work; 0 and the label in buf, or -1 when the stream is not a pickle this reader follows. */
int pickle_top_label(const void *stream, size_t size, char *buf, size_t buflen);

/* 1 when the bytes read as text: valid UTF-8 (a sequence cut at the very end is allowed) with
 * no NUL and at most 1 in 20 other control characters besides tab, newline and carriage
 * return. Only the first 64 KiB are looked at. */
int looks_like_text(const void *data, size_t size);

/* Writes at most `lines_max` lines of text, each cut to 160 bytes, indented by two spaces,
 * control characters shown as \xNN. */
void print_text_head(FILE *out, const void *data, size_t size, size_t lines_max);

/* An `xxd`-like dump of the first `bytes_max` bytes: offset, 16 bytes in hex, the same as
 * characters. */
void print_hex_head(FILE *out, const void *data, size_t size, size_t bytes_max);

/* Everything `show` says about an object's contents, after its size, owner and so on. */
void describe_contents(FILE *out, const void *meta, size_t meta_size, const void *data,
                       size_t size);

#endif
