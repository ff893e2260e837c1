// Integrity of the HDF5 files tap writes (issue 12): bytes of a small dataset and of a
// checkpoint are flipped in turn (the first 1024 and a spread sample of the rest; TAP_FLIP_ALL=1:
// every byte) and each flipped file is loaded in
// a child process, which must neither crash (end by a signal) nor load anything but the original
// data: with the CRC-32 stamp (h5util.h) every flip is refused before HDF5 reads the file. Files
// written before the stamp (the bundled model) still load, unverified.
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TU_MODEL_HELPERS
#include "dataset.h"
#include "h5util.h"
#include "recognize.h"
#include "test_util.h"

static char dir[256];

static void make_dir(void) { snprintf(dir, sizeof dir, "%s", tu_tmpdir()); }

// Three small expressions on a vocabulary of 4 tokens.
static void write_dataset(const char *path) {
    static const char *const vocab[] = {"<eol>", "x", "+", "1"};
    DatasetWriter *w;
    TapError err;
    cr_assert_eq(dataset_writer_open(&w, path, vocab, 4, &err), TAP_OK, "%s", err.msg);
    for (int e = 0; e < 3; e++) {
        float f[5 * 9];
        int stroke[5] = {0, 0, 1, 1, 1}, tok[3] = {1, 2, 3}, start[4] = {0, 1, 1, 2},
            al[2] = {0, 1};
        for (int i = 0; i < 5 * 9; i++)
            f[i] = (float)(i % 7) * 0.25f - (float)e;
        char uid[16], src[32];
        snprintf(uid, sizeof uid, "expr_%d", e);
        snprintf(src, sizeof src, "/data/expr_%d.inkml", e);
        DatasetEntry d = {uid, src, 5, f, stroke, 2, 3, tok, start, al};
        cr_assert_eq(dataset_writer_add(w, &d, &err), TAP_OK, "%s", err.msg);
    }
    cr_assert_eq(dataset_writer_close(w, &err), TAP_OK, "%s", err.msg);
}

static int same_dataset(const Dataset *a, const Dataset *b) {
    if (a->n != b->n || a->V != b->V || a->n_points != b->n_points || a->n_tokens != b->n_tokens ||
        a->n_align != b->n_align)
        return 0;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->uids[i], b->uids[i]) || strcmp(a->sources[i], b->sources[i]))
            return 0;
    for (int i = 0; i < a->V; i++)
        if (strcmp(a->vocab[i], b->vocab[i]))
            return 0;
    return !memcmp(a->features, b->features, a->n_points * 9 * sizeof(float)) &&
           !memcmp(a->feature_offsets, b->feature_offsets, ((size_t)a->n + 1) * 8) &&
           !memcmp(a->point_stroke, b->point_stroke, a->n_points * 4) &&
           !memcmp(a->n_strokes, b->n_strokes, (size_t)a->n * 4) &&
           !memcmp(a->tokens, b->tokens, a->n_tokens * 4) &&
           !memcmp(a->token_offsets, b->token_offsets, ((size_t)a->n + 1) * 8) &&
           !memcmp(a->align_strokes, b->align_strokes, a->n_align * 4) &&
           !memcmp(a->align_offsets, b->align_offsets, (a->n_tokens + 1) * 8);
}

// Child exit codes.
enum { LOAD_REFUSED = 0, LOAD_SAME = 1, LOAD_DIFFERENT = 2, LOAD_BAD_MESSAGE = 3 };

typedef int (*LoadFn)(const char *path, const void *orig);

static int load_dataset(const char *path, const void *orig) {
    Dataset ds;
    TapError err;
    if (dataset_load(path, &ds, &err) != TAP_OK)
        return strstr(err.msg, path) && strchr(err.msg, '\n') == NULL ? LOAD_REFUSED
                                                                      : LOAD_BAD_MESSAGE;
    int same = same_dataset(&ds, orig);
    dataset_free(&ds);
    return same ? LOAD_SAME : LOAD_DIFFERENT;
}

static int load_model(const char *path, const void *orig) {
    RecModel m = {0};
    TapError err;
    if (rec_model_load(&m, path, &err) != TAP_OK)
        return strstr(err.msg, path) ? LOAD_REFUSED : LOAD_BAD_MESSAGE;
    const RecModel *o = orig;
    int same = m.table.n == o->table.n && !memcmp(m.w, o->w, m.table.n * sizeof *m.w) &&
               !memcmp(&m.cfg, &o->cfg, sizeof m.cfg);
    rec_model_free(&m);
    return same ? LOAD_SAME : LOAD_DIFFERENT;
}

// Flips byte k of src (xor with a bit pattern that varies with k) into dst, loads dst in a child
// for each sampled k and tallies the outcomes. Returns how many flips loaded (identical data).
static int flip_each(const char *src, LoadFn load, const void *orig) {
    size_t len;
    unsigned char *bytes = (unsigned char *)tu_read_file(src, &len);
    cr_assert_not_null(bytes);
    // The first 1024 bytes (the stamp, the superblock) whole, then about 1000 spread over the
    // rest; TAP_FLIP_ALL=1 flips every byte (minutes).
    const char *all = getenv("TAP_FLIP_ALL");
    size_t stride = all && *all == '1' ? 1 : len > 2024 ? (len - 1024) / 1000 : 1;
    if (stride % 2 == 0)
        stride++; // odd: the sampled offsets fall on every alignment
    char dst[512];
    snprintf(dst, sizeof dst, "%s/flipped.h5", dir);
    int tally[4] = {0}, tried = 0;
    for (size_t k = 0; k < len; k += k < 1024 ? 1 : stride) {
        unsigned char mask = (unsigned char)(1u << (k % 8)) | (k % 3 == 0 ? 0x80 : 0);
        bytes[k] ^= mask;
        FILE *f = fopen(dst, "wb");
        cr_assert_not_null(f);
        cr_assert_eq(fwrite(bytes, 1, len, f), len);
        cr_assert_eq(fclose(f), 0);
        bytes[k] ^= mask;
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0)
            _exit(load(dst, orig));
        int st;
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        cr_assert(!WIFSIGNALED(st), "byte %zu of %zu (mask 0x%02x): the load died of signal %d", k,
                  len, mask, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        int code = WEXITSTATUS(st);
        cr_assert(code == LOAD_REFUSED || code == LOAD_SAME, "byte %zu of %zu (mask 0x%02x): %s", k,
                  len, mask,
                  code == LOAD_DIFFERENT ? "loaded different data without an error"
                                         : "refused without naming the file on one line");
        tally[code]++;
        tried++;
    }
    cr_log_info("%s: %d flips: %d refused, %d loaded the same data", src, tried,
                tally[LOAD_REFUSED], tally[LOAD_SAME]);
    free(bytes);
    return tally[LOAD_SAME];
}

Test(integrity, crc32_is_zlibs) {
    cr_assert_eq(h5u_crc32(0, "123456789", 9), 0xcbf43926u);
    cr_assert_eq(h5u_crc32(h5u_crc32(0, "1234", 4), "56789", 5), 0xcbf43926u);
    cr_assert_eq(h5u_crc32(0, "", 0), 0u);
}

// A fresh directory with the file name in it, written by write: stamped.
static const char *stamped_file(const char *name, void (*write)(const char *path)) {
    static char path[512];
    make_dir();
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write(path);
    cr_assert_eq(h5u_verify(path, NULL), H5U_OK);
    return path;
}

Test(integrity, every_flipped_byte_of_a_dataset_is_refused_without_a_crash) {
    const char *path = stamped_file("small.h5", write_dataset);
    Dataset orig;
    TapError err;
    cr_assert_eq(dataset_load(path, &orig, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(flip_each(path, load_dataset, &orig), 0, "a flip went undetected");
    dataset_free(&orig);
}

Test(integrity, every_flipped_byte_of_a_checkpoint_is_refused_without_a_crash) {
    const char *path = stamped_file("tiny.h5", tu_tiny_model);
    RecModel orig = {0};
    TapError err;
    cr_assert_eq(rec_model_load(&orig, path, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(flip_each(path, load_model, &orig), 0, "a flip went undetected");
    rec_model_free(&orig);
}

Test(integrity, a_truncated_or_extended_file_is_refused_naming_the_reason) {
    make_dir();
    char path[512], cut[600];
    snprintf(path, sizeof path, "%s/small.h5", dir);
    snprintf(cut, sizeof cut, "%s/cut.h5", dir);
    write_dataset(path);
    size_t len;
    char *bytes = tu_read_file(path, &len);
    cr_assert_not_null(bytes);
    for (int grow = 0; grow < 2; grow++) {
        FILE *f = fopen(cut, "wb");
        cr_assert_not_null(f);
        cr_assert_eq(fwrite(bytes, 1, len - 100, f), len - 100);
        if (grow)
            cr_assert_eq(fwrite(bytes, 1, 200, f), 200);
        cr_assert_eq(fclose(f), 0);
        Dataset ds;
        TapError err;
        cr_assert_neq(dataset_load(cut, &ds, &err), TAP_OK);
        cr_assert(strstr(err.msg, "corrupt dataset: its length is not the one it was written with"),
                  "%s", err.msg);
    }
    free(bytes);
}

Test(integrity, files_written_before_the_checksum_still_load_unverified) {
    // A tiny checkpoint written by tap before the stamp (commit e049a36's tap average).
    const char *model = TAP_SOURCE_DIR "/tests/golden/legacy/tiny_checkpoint_v1.h5";
    cr_assert_eq(h5u_verify(model, NULL), H5U_ABSENT);
    RecModel m = {0};
    TapError err;
    cr_assert_eq(rec_model_load(&m, model, &err), TAP_OK, "%s", err.msg);
    rec_model_free(&m);
}
