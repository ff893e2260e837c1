// HDF5 ragged dataset: a buffered append-only writer (extendible chunked datasets, shuffle +
// deflate) and a validating in-memory loader. Every HDF5 failure becomes a message naming the
// file and the dataset; HDF5's own error printing is switched off.
//
// The numeric columns are written a full chunk at a time with H5Dwrite_chunk: the writer filters
// each chunk as HDF5's pipeline would (shuffle, then zlib's compress2 at DEFLATE_LEVEL, the bytes
// H5Z's shuffle and deflate filters make; test_dataset compares them), so the deflate, most of
// the cost of writing, can run on a pool of threads (dataset_writer_set_threads) while every HDF5
// call stays on the writing thread (the serial library is not thread-safe). The last chunk of a
// column is padded with zeros, HDF5's fill value, as HDF5 pads it. Chunks are stored in the order
// they fill, whatever the thread count, so the file is the same byte for byte.
#include "dataset.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "h5util.h"
#include "outfile.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "dataset.c stores native chunks as little-endian file types: add a byte swap"
#endif

#define DEFLATE_LEVEL 1   // level 4 saves 3% of the size for twice the time
#define JOBS_PER_THREAD 3 // chunks in flight per compressing thread (each up to 2 x 512 kB)

enum {
    COL_FEATURES,
    COL_FEATURE_OFFSETS,
    COL_POINT_STROKE,
    COL_N_STROKES,
    COL_TOKENS,
    COL_TOKEN_OFFSETS,
    COL_ALIGN_STROKES,
    COL_ALIGN_OFFSETS,
    COL_UIDS,
    COL_SOURCES,
    COL_COUNT
};

typedef struct {
    const char *name;
    hid_t dset;
    hid_t mem_type; // native type; for strings the writer's variable-length string type
    int cols;       // 1, or 9 for /features
    size_t esize;   // bytes per element
    size_t chunk;   // rows per chunk
    int direct;     // numeric: stored by whole filtered chunks (H5Dwrite_chunk)
    unsigned char *buf;
    size_t n_buf, cap_buf; // pending rows
    hsize_t written;       // rows already handed on (to the file or to a chunk job)
} Column;

// One chunk on its way to the file.
typedef struct {
    int col;
    hsize_t row0, rows;  // first row; rows of data (fewer than the chunk in the last one)
    size_t raw_bytes;    // the whole chunk
    unsigned char *raw;  // (raw_bytes) the rows, zero-padded
    unsigned char *out;  // the filtered chunk
    size_t cap_raw, cap_out, out_bytes;
    int done, failed;
} ChunkJob;

struct DatasetWriter {
    char *path, *tmp;
    hid_t file, str_type;
    int V, n;
    int64_t n_points, n_tokens, n_align;
    Column col[COL_COUNT];
    // Chunk jobs: a ring of n_jobs slots; jobs are numbered in order, submitted ahead of
    // claimed (by a compressing thread) ahead of stored (written to the file).
    ChunkJob *job;
    size_t n_jobs, submitted, claimed, stored;
    unsigned char *scratch; // the shuffled chunk, when the writing thread compresses
    pthread_t *th;
    int n_threads, stop, sync_init;
    pthread_mutex_t mu;
    pthread_cond_t work, finished;
};


// ----------------------------------------------------------------------------- chunk filters

// HDF5's shuffle filter: byte k of every element, for k = 0 .. esize-1 in turn.
static void shuffle_bytes(unsigned char *dst, const unsigned char *src, size_t n, size_t esize) {
    size_t n_el = n / esize;
    for (size_t k = 0; k < esize; k++) {
        unsigned char *d = dst + k * n_el;
        const unsigned char *s = src + k;
        for (size_t i = 0; i < n_el; i++) d[i] = s[i * esize];
    }
    memcpy(dst + n_el * esize, src + n_el * esize, n - n_el * esize); // none for whole elements
}

// Shuffle + deflate of j->raw into j->out; scratch holds raw_bytes.
static void chunk_filter(ChunkJob *j, size_t esize, unsigned char *scratch) {
    shuffle_bytes(scratch, j->raw, j->raw_bytes, esize);
    uLongf n = (uLongf)j->cap_out;
    j->failed = compress2(j->out, &n, scratch, (uLong)j->raw_bytes, DEFLATE_LEVEL) != Z_OK;
    j->out_bytes = (size_t)n;
}

static void *compress_thread(void *arg) {
    DatasetWriter *w = arg;
    size_t cap = 0;
    unsigned char *scratch = NULL;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->stop && w->claimed == w->submitted) pthread_cond_wait(&w->work, &w->mu);
        if (w->stop) break;
        ChunkJob *j = &w->job[w->claimed++ % w->n_jobs];
        pthread_mutex_unlock(&w->mu);
        const Column *c = &w->col[j->col];
        if (c->direct && cap < j->raw_bytes) { // (strings: nothing to filter)
            free(scratch);
            cap = (scratch = malloc(j->raw_bytes)) ? j->raw_bytes : 0;
        }
        if (c->direct && scratch)
            chunk_filter(j, c->esize, scratch);
        else if (c->direct)
            j->failed = 1;
        pthread_mutex_lock(&w->mu);
        j->done = 1;
        pthread_cond_broadcast(&w->finished);
    }
    pthread_mutex_unlock(&w->mu);
    free(scratch);
    return NULL;
}

static void stop_threads(DatasetWriter *w) {
    if (!w->n_threads) return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_broadcast(&w->work);
    pthread_mutex_unlock(&w->mu);
    for (int t = 0; t < w->n_threads; t++) pthread_join(w->th[t], NULL);
    w->n_threads = 0;
}

// Writes a job of strings (rows of char *, owned) with H5Dwrite, and frees them.
static int write_strings(DatasetWriter *w, Column *c, ChunkJob *j, TapError *err) {
    char **str = (char **)j->raw;
    hsize_t dims[1] = {j->row0 + j->rows}, start[1] = {j->row0}, count[1] = {j->rows};
    hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
    int ok = 0;
    if (H5Dset_extent(c->dset, dims) >= 0 && (fspace = H5Dget_space(c->dset)) >= 0 &&
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
        (mspace = H5Screate_simple(1, count, NULL)) >= 0 &&
        H5Dwrite(c->dset, c->mem_type, mspace, fspace, H5P_DEFAULT, str) >= 0)
        ok = 1;
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    for (hsize_t i = 0; i < j->rows; i++) free(str[i]);
    j->rows = 0;
    if (!ok) return tap_error_set(err, TAP_ERR_IO, "%s: /%s: cannot write (disk full?)", w->tmp,
                             c->name);
    return TAP_OK;
}

// Writes the oldest job to the file, waiting for its compression.
static int store_oldest(DatasetWriter *w, TapError *err) {
    ChunkJob *j = &w->job[w->stored % w->n_jobs];
    if (w->n_threads) {
        pthread_mutex_lock(&w->mu);
        while (!j->done) pthread_cond_wait(&w->finished, &w->mu);
        pthread_mutex_unlock(&w->mu);
    }
    w->stored++;
    Column *c = &w->col[j->col];
    if (!c->direct) return write_strings(w, c, j, err);
    if (j->failed)
        return tap_error_set(err, TAP_ERR_NOMEM, "%s: /%s: cannot compress", w->tmp, c->name);
    hsize_t dims[2] = {j->row0 + j->rows, (hsize_t)c->cols}, offset[2] = {j->row0, 0};
    if (H5Dset_extent(c->dset, dims) < 0 ||
        H5Dwrite_chunk(c->dset, H5P_DEFAULT, 0, offset, j->out_bytes, j->out) < 0)
        return tap_error_set(err, TAP_ERR_IO, "%s: /%s: cannot write (disk full?)", w->tmp,
                             c->name);
    return TAP_OK;
}

// Hands the first min(n_buf, chunk) rows of c on as one chunk.
static int submit_chunk(DatasetWriter *w, Column *c, TapError *err) {
    int rc = TAP_OK;
    if (w->submitted - w->stored == w->n_jobs) rc = store_oldest(w, err); // the ring is full
    if (rc != TAP_OK) return rc;
    ChunkJob *j = &w->job[w->submitted % w->n_jobs];
    size_t row_bytes = (size_t)c->cols * c->esize, raw = c->chunk * row_bytes;
    size_t rows = c->n_buf < c->chunk ? c->n_buf : c->chunk;
    size_t bound = c->direct ? (size_t)compressBound((uLong)raw) : 1; // strings: not filtered
    if (j->cap_raw < raw) {
        free(j->raw);
        j->cap_raw = (j->raw = malloc(raw)) ? raw : 0;
    }
    if (j->cap_out < bound) {
        free(j->out);
        j->cap_out = (j->out = malloc(bound)) ? bound : 0;
    }
    if (!j->raw || !j->out) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    memcpy(j->raw, c->buf, rows * row_bytes);
    memset(j->raw + rows * row_bytes, 0, raw - rows * row_bytes);
    memmove(c->buf, c->buf + rows * row_bytes, (c->n_buf - rows) * row_bytes);
    c->n_buf -= rows;
    j->col = (int)(c - w->col);
    j->row0 = c->written;
    j->rows = rows;
    j->raw_bytes = raw;
    j->done = j->failed = 0;
    c->written += rows;
    if (!w->n_threads) { // compress here, store at once
        if (c->direct) chunk_filter(j, c->esize, w->scratch);
        w->submitted++;
        return store_oldest(w, err);
    }
    pthread_mutex_lock(&w->mu);
    w->submitted++;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
    // Store what is ready, so the file grows while the threads work.
    while (rc == TAP_OK && w->stored < w->submitted) {
        pthread_mutex_lock(&w->mu);
        int ready = w->job[w->stored % w->n_jobs].done;
        pthread_mutex_unlock(&w->mu);
        if (!ready) break;
        rc = store_oldest(w, err);
    }
    return rc;
}

// ----------------------------------------------------------------------------- writer

static int col_push(Column *c, const void *rows, size_t n) {
    if (c->n_buf + n > c->cap_buf) {
        size_t cap = c->cap_buf ? c->cap_buf : 1024;
        while (cap < c->n_buf + n) cap *= 2;
        unsigned char *b = realloc(c->buf, cap * (size_t)c->cols * c->esize);
        if (!b) return -1;
        c->buf = b;
        c->cap_buf = cap;
    }
    memcpy(c->buf + c->n_buf * (size_t)c->cols * c->esize, rows, n * (size_t)c->cols * c->esize);
    c->n_buf += n;
    return 0;
}

// Hands on every full chunk (all pending rows when final), then with final waits for the
// file to hold them all. The strings go through the same queue (unfiltered), so the file
// receives everything in one order whatever the number of threads.
static int flush_columns(DatasetWriter *w, int final, TapError *err) {
    int rc = TAP_OK;
    for (int i = 0; i < COL_COUNT && rc == TAP_OK; i++) {
        Column *c = &w->col[i];
        while (rc == TAP_OK && (c->n_buf >= c->chunk || (final && c->n_buf > 0)))
            rc = submit_chunk(w, c, err);
    }
    while (final && rc == TAP_OK && w->stored < w->submitted) rc = store_oldest(w, err);
    return rc;
}

static int create_col(DatasetWriter *w, int idx, const char *name, hid_t file_type, hid_t mem_type,
                      int cols, size_t esize, hsize_t chunk, int compress, TapError *err) {
    Column *c = &w->col[idx];
    *c = (Column){.name = name,
                  .dset = H5I_INVALID_HID,
                  .mem_type = mem_type,
                  .cols = cols,
                  .esize = esize,
                  .chunk = (size_t)chunk,
                  .direct = compress};
    int rank = cols > 1 ? 2 : 1;
    hsize_t dims[2] = {0, (hsize_t)cols}, maxd[2] = {H5S_UNLIMITED, (hsize_t)cols},
            ch[2] = {chunk, (hsize_t)cols};
    hid_t space = H5Screate_simple(rank, dims, maxd), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    // No object timestamps: the same inputs give a byte-identical file.
    int ok = space >= 0 && dcpl >= 0 && H5Pset_chunk(dcpl, rank, ch) >= 0 &&
             H5Pset_obj_track_times(dcpl, 0) >= 0;
    if (ok && compress) ok = H5Pset_shuffle(dcpl) >= 0 && H5Pset_deflate(dcpl, DEFLATE_LEVEL) >= 0;
    if (ok) c->dset = H5Dcreate2(w->file, name, file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (space >= 0) H5Sclose(space);
    if (c->dset < 0) return tap_error_set(err, TAP_ERR_IO, "%s: /%s: cannot create", w->tmp, name);
    return TAP_OK;
}

static int write_attr_int(hid_t obj, const char *name, int value) {
    return h5u_write_attr(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT, 0, &value);
}

static char *str_dup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

// Sets up the job ring for n_threads compressing threads (0: one job, compressed in place).
static int jobs_alloc(DatasetWriter *w, int n_threads) {
    size_t n = n_threads > 0 ? (size_t)n_threads * JOBS_PER_THREAD : 1;
    ChunkJob *job = calloc(n, sizeof *job);
    if (!job) return -1;
    w->job = job;
    w->n_jobs = n;
    return 0;
}

static void jobs_free(DatasetWriter *w) {
    for (size_t k = w->stored; w->job && k < w->submitted; k++) { // an aborted write
        ChunkJob *j = &w->job[k % w->n_jobs];
        if (!w->col[j->col].direct)
            for (hsize_t i = 0; i < j->rows; i++) free(((char **)j->raw)[i]);
    }
    for (size_t k = 0; w->job && k < w->n_jobs; k++) {
        free(w->job[k].raw);
        free(w->job[k].out);
    }
    free(w->job);
    w->job = NULL;
    w->n_jobs = 0;
}

static void writer_release(DatasetWriter *w) {
    stop_threads(w);
    jobs_free(w);
    free(w->scratch);
    free(w->th);
    if (w->sync_init) {
        pthread_cond_destroy(&w->finished);
        pthread_cond_destroy(&w->work);
        pthread_mutex_destroy(&w->mu);
    }
    for (int i = 0; i < COL_COUNT; i++) {
        Column *c = &w->col[i];
        if (c->mem_type == w->str_type && c->buf)
            for (size_t j = 0; j < c->n_buf; j++) free(((char **)c->buf)[j]);
        free(c->buf);
        if (c->dset > 0) H5Dclose(c->dset);
    }
    if (w->str_type > 0) H5Tclose(w->str_type);
    if (w->file > 0) H5Fclose(w->file);
    free(w->path);
    free(w->tmp);
    free(w);
}

void dataset_writer_abort(DatasetWriter *w) {
    if (!w) return;
    char *tmp = w->tmp;
    w->tmp = NULL;
    writer_release(w);
    if (tmp) remove(tmp);
    free(tmp);
}

int dataset_writer_open(DatasetWriter **out, const char *path, const char *const *vocab, int V,
                        TapError *err) {
    h5u_quiet();
    *out = NULL;
    if (V <= 0) return tap_error_set(err, TAP_ERR_ARG, "%s: empty vocabulary", path);
    int bad = outfile_check(path, NULL, 0, err); // not a FIFO, a device or a directory
    if (bad) return bad;
    DatasetWriter *w = calloc(1, sizeof *w);
    if (!w) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    w->file = w->str_type = H5I_INVALID_HID;
    for (int i = 0; i < COL_COUNT; i++) w->col[i].dset = H5I_INVALID_HID;
    size_t len = strlen(path);
    w->path = str_dup(path);
    w->tmp = malloc(len + 5);
    if (!w->path || !w->tmp) {
        writer_release(w);
        return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    }
    snprintf(w->tmp, len + 5, "%s.tmp", path);
    // The largest chunk: 65536 rows of int64.
    if (jobs_alloc(w, 0) || !(w->scratch = malloc((size_t)65536 * sizeof(int64_t)))) {
        writer_release(w);
        return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->work, NULL);
    pthread_cond_init(&w->finished, NULL);
    w->sync_init = 1;
    w->V = V;
    errno = 0;
    hid_t fcpl = h5u_stamp_fcpl(); // the user block for the checksum (h5util.h)
    w->file = fcpl < 0 ? H5I_INVALID_HID : H5Fcreate(w->tmp, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    h5u_close(&fcpl, H5Pclose);
    if (w->file < 0) {
        int e = errno;
        tap_error_set(err, TAP_ERR_IO, "%s: cannot create%s%s", w->tmp, e ? ": " : "",
                      e ? strerror(e) : "");
        writer_release(w);
        return TAP_ERR_IO;
    }
    int rc = TAP_OK;
    w->str_type = h5u_utf8_string_type();
    if (w->str_type < 0)
        rc = tap_error_set(err, TAP_ERR_IO, "%s: cannot make the string type", w->tmp);
    struct {
        const char *name;
        hid_t ftype, mtype;
        int cols;
        size_t esize;
        hsize_t chunk;
        int compress;
    } spec[COL_COUNT] = {
        [COL_FEATURES] = {"features", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, TAP_DATASET_FEATURE_DIM,
                          sizeof(float), 8192, 1},
        [COL_FEATURE_OFFSETS] = {"feature_offsets", H5T_STD_I64LE, H5T_NATIVE_INT64, 1,
                                 sizeof(int64_t), 16384, 1},
        [COL_POINT_STROKE] = {"point_stroke", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, sizeof(int32_t),
                              65536, 1},
        [COL_N_STROKES] = {"n_strokes", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, sizeof(int32_t), 16384,
                           1},
        [COL_TOKENS] = {"tokens", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, sizeof(int32_t), 65536, 1},
        [COL_TOKEN_OFFSETS] = {"token_offsets", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, sizeof(int64_t),
                               16384, 1},
        [COL_ALIGN_STROKES] = {"align_strokes", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, sizeof(int32_t),
                               65536, 1},
        [COL_ALIGN_OFFSETS] = {"align_offsets", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, sizeof(int64_t),
                               65536, 1},
        [COL_UIDS] = {"uids", w->str_type, w->str_type, 1, sizeof(char *), 4096, 0},
        [COL_SOURCES] = {"sources", w->str_type, w->str_type, 1, sizeof(char *), 4096, 0},
    };
    for (int i = 0; i < COL_COUNT && rc == TAP_OK; i++)
        rc = create_col(w, i, spec[i].name, spec[i].ftype, spec[i].mtype, spec[i].cols,
                        spec[i].esize, spec[i].chunk, spec[i].compress, err);
    if (rc == TAP_OK && (write_attr_int(w->file, "format_version", TAP_DATASET_VERSION) < 0 ||
                         write_attr_int(w->file, "feature_dim", TAP_DATASET_FEATURE_DIM) < 0))
        rc = tap_error_set(err, TAP_ERR_IO, "%s: cannot write the attributes of /", w->tmp);
    // The vocabulary is written whole; the offsets arrays start with their leading 0.
    if (rc == TAP_OK && h5u_write_strings(w->file, "vocab", vocab, (hsize_t)V) != H5U_OK)
        rc = tap_error_set(err, TAP_ERR_IO, "%s: /vocab: cannot write", w->tmp);
    int64_t zero = 0;
    if (rc == TAP_OK && (col_push(&w->col[COL_FEATURE_OFFSETS], &zero, 1) ||
                         col_push(&w->col[COL_TOKEN_OFFSETS], &zero, 1) ||
                         col_push(&w->col[COL_ALIGN_OFFSETS], &zero, 1)))
        rc = tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    if (rc != TAP_OK) {
        dataset_writer_abort(w);
        return rc;
    }
    *out = w;
    return TAP_OK;
}

int dataset_writer_count(const DatasetWriter *w) { return w->n; }

int dataset_writer_set_threads(DatasetWriter *w, int n_threads, TapError *err) {
    if (w->submitted > 0 || w->n_threads > 0)
        return tap_error_set(err, TAP_ERR_ARG, "%s: compressing threads set after the first chunk",
                             w->tmp);
    if (n_threads <= 0) return TAP_OK;
    jobs_free(w);
    if (jobs_alloc(w, n_threads) || !(w->th = calloc((size_t)n_threads, sizeof *w->th))) {
        jobs_free(w);
        if (jobs_alloc(w, 0)) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
        return TAP_OK; // compress on the writing thread
    }
    while (w->n_threads < n_threads && !pthread_create(&w->th[w->n_threads], NULL,
                                                        compress_thread, w))
        w->n_threads++;
    if (w->n_threads == 0) { // no thread started: compress on the writing thread
        jobs_free(w);
        if (jobs_alloc(w, 0)) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    }
    return TAP_OK;
}

static int check_entry(const DatasetWriter *w, const DatasetEntry *e, TapError *err) {
    const char *u = e->uid ? e->uid : "(no uid)";
    if (!e->uid || !e->source)
        return tap_error_set(err, TAP_ERR_ARG, "%s: missing uid or source", u);
    if (e->n_rows < 1 || e->n_strokes < 1 || e->n_tokens < 0)
        return tap_error_set(err, TAP_ERR_ARG, "%s: bad sizes (%d rows, %d strokes, %d tokens)", u,
                             e->n_rows, e->n_strokes, e->n_tokens);
    for (size_t i = 0; i < (size_t)e->n_rows * TAP_DATASET_FEATURE_DIM; i++)
        if (!isfinite(e->features[i]))
            return tap_error_set(err, TAP_ERR_NUMERIC, "%s: non-finite feature", u);
    for (int i = 0; i < e->n_rows; i++)
        if (e->point_stroke[i] < 0 || e->point_stroke[i] >= e->n_strokes)
            return tap_error_set(err, TAP_ERR_ARG, "%s: point %d has stroke %d of %d", u, i,
                                 e->point_stroke[i], e->n_strokes);
    for (int i = 0; i < e->n_tokens; i++)
        if (e->tokens[i] < 0 || e->tokens[i] >= w->V)
            return tap_error_set(err, TAP_ERR_ARG, "%s: token id %d outside the vocabulary (%d)", u,
                                 e->tokens[i], w->V);
    if (e->align_start) {
        if (e->align_start[0] != 0)
            return tap_error_set(err, TAP_ERR_ARG, "%s: alignment offsets start at %d", u,
                                 e->align_start[0]);
        for (int i = 0; i < e->n_tokens; i++)
            if (e->align_start[i + 1] < e->align_start[i])
                return tap_error_set(err, TAP_ERR_ARG, "%s: alignment offsets decrease at token %d",
                                     u, i);
        for (int i = 0; i < e->align_start[e->n_tokens]; i++)
            if (e->align_strokes[i] < 0 || e->align_strokes[i] >= e->n_strokes)
                return tap_error_set(err, TAP_ERR_ARG, "%s: aligned stroke %d of %d", u,
                                     e->align_strokes[i], e->n_strokes);
    }
    return TAP_OK;
}

int dataset_writer_add(DatasetWriter *w, const DatasetEntry *e, TapError *err) {
    int rc = check_entry(w, e, err);
    if (rc != TAP_OK) return rc;
    Column *c = w->col;
    int64_t a_total = e->align_start ? e->align_start[e->n_tokens] : 0;
    int32_t ns = e->n_strokes;
    // After a failed allocation the columns disagree: the caller must abort the writer.
    char *uid = str_dup(e->uid);
    if (!uid || col_push(&c[COL_UIDS], &uid, 1)) {
        free(uid);
        return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    }
    char *src = str_dup(e->source);
    if (!src || col_push(&c[COL_SOURCES], &src, 1)) {
        free(src);
        return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    }
    int fail = col_push(&c[COL_FEATURES], e->features, (size_t)e->n_rows) ||
               col_push(&c[COL_N_STROKES], &ns, 1);
    for (int i = 0; i < e->n_rows && !fail; i++) {
        int32_t s = e->point_stroke[i];
        fail = col_push(&c[COL_POINT_STROKE], &s, 1);
    }
    for (int i = 0; i < e->n_tokens && !fail; i++) {
        int32_t t = e->tokens[i];
        int64_t end = w->n_align + (e->align_start ? e->align_start[i + 1] : 0);
        fail = col_push(&c[COL_TOKENS], &t, 1) || col_push(&c[COL_ALIGN_OFFSETS], &end, 1);
    }
    for (int64_t i = 0; i < a_total && !fail; i++) {
        int32_t s = e->align_strokes[i];
        fail = col_push(&c[COL_ALIGN_STROKES], &s, 1);
    }
    w->n_points += e->n_rows;
    w->n_tokens += e->n_tokens;
    w->n_align += a_total;
    fail = fail || col_push(&c[COL_FEATURE_OFFSETS], &w->n_points, 1) ||
           col_push(&c[COL_TOKEN_OFFSETS], &w->n_tokens, 1);
    if (fail) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    w->n++;
    return flush_columns(w, 0, err);
}

int dataset_writer_close(DatasetWriter *w, TapError *err) {
    int rc = flush_columns(w, 1, err);
    stop_threads(w);
    for (int i = 0; i < COL_COUNT; i++) {
        if (w->col[i].dset >= 0 && H5Dclose(w->col[i].dset) < 0 && rc == TAP_OK)
            rc = tap_error_set(err, TAP_ERR_IO, "%s: /%s: cannot write (disk full?)", w->tmp,
                               w->col[i].name);
        w->col[i].dset = H5I_INVALID_HID;
    }
    if (w->file >= 0 && H5Fclose(w->file) < 0 && rc == TAP_OK)
        rc = tap_error_set(err, TAP_ERR_IO, "%s: cannot finish writing (disk full?)", w->tmp);
    w->file = H5I_INVALID_HID;
    if (rc == TAP_OK && h5u_stamp(w->tmp) != H5U_OK)
        rc = tap_error_set(err, TAP_ERR_IO, "%s: cannot write the checksum (disk full?)", w->tmp);
    if (rc == TAP_OK) rc = outfile_publish(w->tmp, w->path, 0, err);
    if (rc != TAP_OK) {
        dataset_writer_abort(w);
        return rc;
    }
    writer_release(w);
    return TAP_OK;
}

// ----------------------------------------------------------------------------- loader

// Reads a whole 1-D (cols == 1) or 2-D (rows, cols) numeric dataset.
static int read_numeric(hid_t f, const char *path, const char *name, H5T_class_t cls,
                        hid_t mem_type, size_t esize, int cols, void **out, size_t *rows,
                        TapError *err) {
    *out = NULL;
    *rows = 0;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return tap_error_set(err, TAP_ERR_FORMAT, "%s: /%s: missing", path, name);
    hid_t space = H5Dget_space(d), type = H5Dget_type(d);
    int rc = TAP_OK, want_rank = cols > 1 ? 2 : 1;
    hsize_t dims[2] = {0, 0};
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (space < 0 || type < 0 || rank < 0)
        rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: /%s: unreadable", path, name);
    else if (H5Tget_class(type) != cls)
        rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: /%s: wrong element type", path, name);
    else if (rank != want_rank)
        rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: /%s: rank %d, expected %d", path, name, rank,
                           want_rank);
    else {
        H5Sget_simple_extent_dims(space, dims, NULL);
        if (cols > 1 && dims[1] != (hsize_t)cols)
            rc = tap_error_set(err, TAP_ERR_FORMAT,
                               "%s: /%s: has shape [%llu,%llu], expected [%llu,%d]", path, name,
                               (unsigned long long)dims[0], (unsigned long long)dims[1],
                               (unsigned long long)dims[0], cols);
        else if (dims[0] > ((hsize_t)1 << 40) / (hsize_t)cols)
            rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: /%s: absurd length %llu", path, name,
                               (unsigned long long)dims[0]);
    }
    if (rc == TAP_OK) {
        *out = malloc((size_t)dims[0] * (size_t)cols * esize + 1);
        if (!*out)
            rc = tap_error_set(err, TAP_ERR_NOMEM, "%s: /%s: out of memory", path, name);
        else if (dims[0] > 0 && H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out) < 0)
            rc = tap_error_set(err, TAP_ERR_IO, "%s: /%s: cannot read (truncated or corrupt file?)",
                               path, name);
    }
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    H5Dclose(d);
    if (rc != TAP_OK) {
        free(*out);
        *out = NULL;
    } else
        *rows = (size_t)dims[0];
    return rc;
}

static int read_strings(hid_t f, const char *path, const char *name, char ***out, size_t *rows,
                        TapError *err) {
    const char *why;
    int rc = h5u_read_strings(f, name, (hsize_t)1 << 32, out, rows, &why);
    if (rc == H5U_OK) return TAP_OK;
    int code = rc == H5U_NOMEM ? TAP_ERR_NOMEM : rc == H5U_FAILED ? TAP_ERR_IO : TAP_ERR_FORMAT;
    return tap_error_set(err, code, "%s: /%s: %s", path, name, why);
}

static int read_attr_int(hid_t f, const char *name, int *v) {
    return h5u_read_attr(f, name, H5T_NATIVE_INT, 1, v, NULL);
}

// Offsets: n+1 entries starting at 0, monotone (strictly when `strict`), ending at total.
static int check_offsets(const char *path, const char *name, const int64_t *o, size_t len,
                         size_t want_len, size_t total, int strict, TapError *err) {
    if (len != want_len)
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: /%s: %zu entries, expected %zu", path, name,
                             len, want_len);
    if (o[0] != 0)
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: /%s: starts at %lld, not 0", path, name,
                             (long long)o[0]);
    for (size_t i = 1; i < len; i++)
        if (o[i] < o[i - 1] || (strict && o[i] == o[i - 1]))
            return tap_error_set(err, TAP_ERR_FORMAT, "%s: /%s: not %s at %zu (%lld after %lld)",
                                 path, name, strict ? "increasing" : "monotone", i, (long long)o[i],
                                 (long long)o[i - 1]);
    if ((size_t)o[len - 1] != total)
        return tap_error_set(err, TAP_ERR_FORMAT,
                             "%s: /%s: ends at %lld, but the data has %zu entries", path, name,
                             (long long)o[len - 1], total);
    return TAP_OK;
}

static int cmp_uid_ptr(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// Every uid names one expression: hypotheses and references are matched by uid.
static int check_unique_uids(const char *path, const Dataset *ds, TapError *err) {
    if (ds->n < 2) return TAP_OK;
    char **u = malloc((size_t)ds->n * sizeof *u);
    if (!u) return tap_error_set(err, TAP_ERR_NOMEM, "%s: out of memory", path);
    memcpy(u, ds->uids, (size_t)ds->n * sizeof *u);
    qsort(u, (size_t)ds->n, sizeof *u, cmp_uid_ptr);
    int rc = TAP_OK;
    for (int i = 1; i < ds->n && rc == TAP_OK; i++)
        if (!strcmp(u[i - 1], u[i]))
            rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: /uids: '%.200s' names two expressions",
                               path, u[i]);
    free(u);
    return rc;
}

static int validate(const char *path, Dataset *ds, size_t n_sources, size_t n_ns, size_t n_fo,
                    size_t n_ps, size_t n_to, size_t n_ao, TapError *err) {
    size_t n = (size_t)ds->n;
    if (n_sources != n || n_ns != n)
        return tap_error_set(err, TAP_ERR_FORMAT,
                             "%s: /uids has %zu entries but /sources %zu and /n_strokes %zu", path,
                             n, n_sources, n_ns);
    int rc = check_offsets(path, "feature_offsets", ds->feature_offsets, n_fo, n + 1, ds->n_points,
                           1, err);
    if (rc == TAP_OK)
        rc = check_offsets(path, "token_offsets", ds->token_offsets, n_to, n + 1, ds->n_tokens, 0,
                           err);
    if (rc == TAP_OK)
        rc = check_offsets(path, "align_offsets", ds->align_offsets, n_ao, ds->n_tokens + 1,
                           ds->n_align, 0, err);
    if (rc != TAP_OK) return rc;
    if (n_ps != ds->n_points)
        return tap_error_set(err, TAP_ERR_FORMAT,
                             "%s: /point_stroke has %zu entries, /features %zu rows", path, n_ps,
                             ds->n_points);
    for (size_t i = 0; i < ds->n_points * TAP_DATASET_FEATURE_DIM; i++)
        if (!isfinite(ds->features[i]))
            return tap_error_set(err, TAP_ERR_NUMERIC, "%s: /features: non-finite value in row %zu",
                                 path, i / TAP_DATASET_FEATURE_DIM);
    for (size_t k = 0; k < ds->n_tokens; k++)
        if (ds->tokens[k] < 0 || ds->tokens[k] >= ds->V)
            return tap_error_set(err, TAP_ERR_FORMAT,
                                 "%s: /tokens: id %d at %zu is outside the vocabulary (V = %d)",
                                 path, ds->tokens[k], k, ds->V);
    for (size_t e = 0; e < n; e++) {
        int ns = ds->n_strokes[e];
        if (ns < 1)
            return tap_error_set(err, TAP_ERR_FORMAT, "%s: /n_strokes: %d for expression %zu", path,
                                 ns, e);
        for (int64_t p = ds->feature_offsets[e]; p < ds->feature_offsets[e + 1]; p++)
            if (ds->point_stroke[p] < 0 || ds->point_stroke[p] >= ns)
                return tap_error_set(err, TAP_ERR_FORMAT,
                                     "%s: /point_stroke: stroke %d of %d in expression %zu", path,
                                     ds->point_stroke[p], ns, e);
        for (int64_t k = ds->token_offsets[e]; k < ds->token_offsets[e + 1]; k++)
            for (int64_t a = ds->align_offsets[k]; a < ds->align_offsets[k + 1]; a++)
                if (ds->align_strokes[a] < 0 || ds->align_strokes[a] >= ns)
                    return tap_error_set(err, TAP_ERR_FORMAT,
                                         "%s: /align_strokes: stroke %d of %d in expression %zu",
                                         path, ds->align_strokes[a], ns, e);
    }
    return check_unique_uids(path, ds, err);
}

int dataset_load(const char *path, Dataset *ds, TapError *err) {
    memset(ds, 0, sizeof *ds);
    hid_t f = H5I_INVALID_HID;
    const char *why = NULL;
    int check = h5u_open_read(path, &f, &why); // the checksum before HDF5 reads a byte
    if (check == H5U_NO_FILE)
        return tap_error_set(err, TAP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (check == H5U_NOT_HDF5 && why)
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: not an HDF5 file (or truncated): %s", path,
                             why);
    if (check == H5U_NOT_HDF5)
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: not an HDF5 file (or truncated)", path);
    if (check == H5U_FAILED)
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: corrupt dataset: %s", path, why);
    int version = 0, fdim = 0, rc = TAP_OK;
    if (read_attr_int(f, "format_version", &version) < 0)
        rc = tap_error_set(err, TAP_ERR_FORMAT,
                           "%s: no format_version attribute: not a tap dataset", path);
    else if (version != TAP_DATASET_VERSION)
        rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: format_version %d, this build reads %d", path,
                           version, TAP_DATASET_VERSION);
    else if (read_attr_int(f, "feature_dim", &fdim) == 0 && fdim != TAP_DATASET_FEATURE_DIM)
        rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: feature_dim %d, expected %d", path, fdim,
                           TAP_DATASET_FEATURE_DIM);
    size_t n_uids = 0, n_src = 0, n_v = 0, n_ns = 0, n_fo = 0, n_ps = 0, n_to = 0, n_ao = 0;
    if (rc == TAP_OK) rc = read_strings(f, path, "vocab", &ds->vocab, &n_v, err);
    ds->V = (int)n_v;
    if (rc == TAP_OK) rc = read_strings(f, path, "uids", &ds->uids, &n_uids, err);
    ds->n = (int)n_uids;
    if (rc == TAP_OK) rc = read_strings(f, path, "sources", &ds->sources, &n_src, err);
    if (rc == TAP_OK)
        rc = read_numeric(f, path, "features", H5T_FLOAT, H5T_NATIVE_FLOAT, sizeof(float),
                          TAP_DATASET_FEATURE_DIM, (void **)&ds->features, &ds->n_points, err);
    if (rc == TAP_OK)
        rc = read_numeric(f, path, "feature_offsets", H5T_INTEGER, H5T_NATIVE_INT64, 8, 1,
                          (void **)&ds->feature_offsets, &n_fo, err);
    if (rc == TAP_OK)
        rc = read_numeric(f, path, "point_stroke", H5T_INTEGER, H5T_NATIVE_INT32, 4, 1,
                          (void **)&ds->point_stroke, &n_ps, err);
    if (rc == TAP_OK)
        rc = read_numeric(f, path, "n_strokes", H5T_INTEGER, H5T_NATIVE_INT32, 4, 1,
                          (void **)&ds->n_strokes, &n_ns, err);
    if (rc == TAP_OK)
        rc = read_numeric(f, path, "tokens", H5T_INTEGER, H5T_NATIVE_INT32, 4, 1,
                          (void **)&ds->tokens, &ds->n_tokens, err);
    if (rc == TAP_OK)
        rc = read_numeric(f, path, "token_offsets", H5T_INTEGER, H5T_NATIVE_INT64, 8, 1,
                          (void **)&ds->token_offsets, &n_to, err);
    if (rc == TAP_OK)
        rc = read_numeric(f, path, "align_strokes", H5T_INTEGER, H5T_NATIVE_INT32, 4, 1,
                          (void **)&ds->align_strokes, &ds->n_align, err);
    if (rc == TAP_OK)
        rc = read_numeric(f, path, "align_offsets", H5T_INTEGER, H5T_NATIVE_INT64, 8, 1,
                          (void **)&ds->align_offsets, &n_ao, err);
    H5Fclose(f);
    if (rc == TAP_OK && ds->V < 1)
        rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: /vocab is empty", path);
    if (rc == TAP_OK && n_uids > (size_t)INT32_MAX)
        rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: too many expressions", path);
    if (rc == TAP_OK) rc = validate(path, ds, n_src, n_ns, n_fo, n_ps, n_to, n_ao, err);
    if (rc != TAP_OK) {
        // Sizes of the string arrays may be partial: free by their own counts.
        for (size_t i = 0; i < n_src && ds->sources; i++) free(ds->sources[i]);
        free(ds->sources);
        ds->sources = NULL;
        dataset_free(ds);
    }
    return rc;
}

void dataset_free(Dataset *ds) {
    if (!ds) return;
    for (int i = 0; ds->vocab && i < ds->V; i++) free(ds->vocab[i]);
    for (int i = 0; ds->uids && i < ds->n; i++) free(ds->uids[i]);
    for (int i = 0; ds->sources && i < ds->n; i++) free(ds->sources[i]);
    free(ds->vocab);
    free(ds->uids);
    free(ds->sources);
    free(ds->features);
    free(ds->feature_offsets);
    free(ds->point_stroke);
    free(ds->n_strokes);
    free(ds->tokens);
    free(ds->token_offsets);
    free(ds->align_strokes);
    free(ds->align_offsets);
    memset(ds, 0, sizeof *ds);
}
