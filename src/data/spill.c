// The lists of spill.h. A chunk is spilled when the next record would take the list's charge
// past what the budget has left (a list with an empty chunk takes one record whatever the
// budget, so that it always moves on). Runs carry a level: a run of chunk records is level 0,
// and SPILL_FAN_IN runs of one level are merged into one of the next as soon as they exist.
#include "spill.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct SpillSource {
    FILE *f;         // NULL: the chunk in memory
    unsigned char *buf; // the current record of a run
    size_t cap, len;
    const unsigned char *rec;
    int live; // a current record
};

static const char *tmp_dir(const SpillBudget *b) {
    if (b->dir && *b->dir) return b->dir;
    const char *t = getenv("TMPDIR");
    return t && *t ? t : "/tmp";
}

static int write_error(const SpillBudget *b, int e, TapError *err) {
    return tap_error_set(err, TAP_ERR_IO, "cannot write a temporary file in %s: %s (disk full?)",
                         tmp_dir(b), strerror(e ? e : EIO));
}

// An unlinked temporary file opened for writing and reading.
static FILE *tmp_open(const SpillBudget *b, TapError *err) {
    const char *dir = tmp_dir(b);
    size_t len = strlen(dir) + 32;
    char *name = malloc(len);
    if (!name) {
        tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
        return NULL;
    }
    snprintf(name, len, "%s/tap-spill-XXXXXX", dir);
    int fd = mkstemp(name);
    if (fd < 0) {
        tap_error_set(err, TAP_ERR_IO, "cannot create a temporary file in %s: %s (set TMPDIR)",
                      dir, strerror(errno));
        free(name);
        return NULL;
    }
    unlink(name);
    free(name);
    FILE *f = fdopen(fd, "w+b");
    if (!f) {
        tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
        close(fd);
        return NULL;
    }
    setvbuf(f, NULL, _IOFBF, SPILL_IO_BUFFER);
    return f;
}

void spill_init(Spill *s, SpillBudget *budget, int sorted) {
    memset(s, 0, sizeof *s);
    s->budget = budget;
    s->sorted = sorted;
    s->pending = -1;
}

static void uncharge(Spill *s) {
    s->budget->used -= s->charged;
    s->charged = 0;
}

// Brings the budget's charge for s to what its records and their offsets take.
static void recharge(Spill *s) {
    size_t now = s->buf_len + s->n_mem * sizeof *s->off;
    s->budget->used = s->budget->used - s->charged + now;
    s->charged = now;
}

static uint32_t rec_len(const unsigned char *p) {
    uint32_t n;
    memcpy(&n, p, sizeof n);
    return n;
}

static int rec_cmp(const unsigned char *a, size_t na, const unsigned char *b, size_t nb) {
    int c = memcmp(a, b, na < nb ? na : nb);
    return c ? c : (na > nb) - (na < nb);
}

static _Thread_local const unsigned char *g_sort_buf; // qsort has no context argument

static int by_record(const void *x, const void *y) {
    const unsigned char *a = g_sort_buf + *(const size_t *)x, *b = g_sort_buf + *(const size_t *)y;
    return rec_cmp(a + 4, rec_len(a), b + 4, rec_len(b));
}

static void sort_chunk(Spill *s) {
    if (!s->sorted || s->n_mem < 2) return;
    g_sort_buf = s->buf;
    qsort(s->off, s->n_mem, sizeof *s->off, by_record);
}

static int put_record(FILE *f, const SpillBudget *b, const void *rec, size_t len, TapError *err) {
    uint32_t n = (uint32_t)len;
    if (fwrite(&n, sizeof n, 1, f) != 1 || (len && fwrite(rec, len, 1, f) != 1))
        return write_error(b, errno, err);
    return TAP_OK;
}

// Ends writing f and rewinds it for reading.
static int run_seal(FILE *f, const SpillBudget *b, TapError *err) {
    if (fflush(f) != 0 || ferror(f)) return write_error(b, errno, err);
    rewind(f);
    return TAP_OK;
}

static int run_push(Spill *s, FILE *f, int level, TapError *err) {
    if (s->n_runs == s->run_cap) {
        size_t cap = s->run_cap ? 2 * s->run_cap : 8;
        FILE **r = realloc(s->run, cap * sizeof *r);
        if (r) s->run = r;
        int *l = r ? realloc(s->level, cap * sizeof *l) : NULL;
        if (!l) {
            fclose(f);
            return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
        }
        s->level = l;
        s->run_cap = cap;
    }
    s->run[s->n_runs] = f;
    s->level[s->n_runs++] = level;
    return TAP_OK;
}

// ---------------------------------------------------------------------------- reading sources

// The next record of a source into src->rec/len; src->live 0 at its end.
static int source_advance(Spill *s, SpillSource *src, TapError *err) {
    if (!src->f) {
        if (s->mem_next >= s->n_mem) {
            src->live = 0;
            return TAP_OK;
        }
        const unsigned char *p = s->buf + s->off[s->mem_next++];
        src->len = rec_len(p);
        src->rec = p + 4;
        src->live = 1;
        return TAP_OK;
    }
    uint32_t n;
    size_t got = fread(&n, 1, sizeof n, src->f);
    if (got == 0 && feof(src->f)) {
        src->live = 0;
        return TAP_OK;
    }
    if (got != sizeof n) goto bad;
    if (n > src->cap) {
        size_t cap = n < 256 ? 256 : n;
        unsigned char *b = realloc(src->buf, cap);
        if (!b) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
        src->buf = b;
        src->cap = cap;
    }
    if (n && fread(src->buf, n, 1, src->f) != 1) goto bad;
    src->rec = src->buf;
    src->len = n;
    src->live = 1;
    return TAP_OK;
bad:
    return tap_error_set(err, TAP_ERR_IO, "cannot read back a temporary file in %s: %s",
                         tmp_dir(s->budget), ferror(src->f) ? strerror(errno) : "truncated");
}

// The live source with the smallest record (the first in order when unsorted), or -1.
static long source_min(const Spill *s) {
    long best = -1;
    for (size_t k = 0; k < s->n_src; k++) {
        const SpillSource *c = &s->src[k];
        if (!c->live) continue;
        if (best < 0) {
            best = (long)k;
            if (!s->sorted) break;
        } else if (rec_cmp(c->rec, c->len, s->src[best].rec, s->src[best].len) < 0) {
            best = (long)k;
        }
    }
    return best;
}

static void sources_free(Spill *s) {
    for (size_t k = 0; k < s->n_src; k++) free(s->src[k].buf);
    free(s->src);
    s->src = NULL;
    s->n_src = 0;
}

// Sources over runs [from, from + n) and, when with_mem, the chunk in memory; all primed.
static int sources_open(Spill *s, size_t from, size_t n, int with_mem, TapError *err) {
    s->src = calloc(n + 1, sizeof *s->src);
    if (!s->src) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    s->n_src = n + (size_t)(with_mem != 0);
    s->mem_next = 0;
    for (size_t k = 0; k < n; k++) s->src[k].f = s->run[from + k];
    for (size_t k = 0; k < s->n_src; k++) {
        int rc = source_advance(s, &s->src[k], err);
        if (rc != TAP_OK) return rc;
    }
    return TAP_OK;
}

// Merges the last n runs into one run of level `level`, which replaces them.
static int merge_tail(Spill *s, size_t n, int level, TapError *err) {
    size_t from = s->n_runs - n;
    FILE *out = tmp_open(s->budget, err);
    if (!out) return err ? err->code : TAP_ERR_IO;
    int rc = sources_open(s, from, n, 0, err);
    for (long k; rc == TAP_OK && (k = source_min(s)) >= 0;) {
        rc = put_record(out, s->budget, s->src[k].rec, s->src[k].len, err);
        if (rc == TAP_OK) rc = source_advance(s, &s->src[k], err);
    }
    sources_free(s);
    if (rc == TAP_OK) rc = run_seal(out, s->budget, err);
    if (rc != TAP_OK) {
        fclose(out);
        return rc;
    }
    for (size_t k = from; k < s->n_runs; k++) fclose(s->run[k]);
    s->n_runs = from;
    s->n_merges++;
    return run_push(s, out, level, err);
}

// ---------------------------------------------------------------------------- writing

// Writes the chunk in memory to a run (sorted: a new run, merging full levels; ordered: the one
// run, appended) and empties it (its buffers are kept for the next chunk).
static int spill_chunk(Spill *s, TapError *err) {
    if (s->n_mem == 0) return TAP_OK;
    sort_chunk(s);
    FILE *f = !s->sorted && s->n_runs ? s->run[0] : tmp_open(s->budget, err);
    if (!f) return err ? err->code : TAP_ERR_IO;
    int rc = TAP_OK;
    for (size_t i = 0; i < s->n_mem && rc == TAP_OK; i++) {
        const unsigned char *p = s->buf + s->off[i];
        rc = put_record(f, s->budget, p + 4, rec_len(p), err);
    }
    if (rc == TAP_OK && s->sorted) rc = run_seal(f, s->budget, err);
    if (rc != TAP_OK) {
        if (s->sorted || !s->n_runs) fclose(f);
        return rc;
    }
    if (s->sorted || !s->n_runs) {
        rc = run_push(s, f, 0, err);
        if (rc != TAP_OK) return rc;
    }
    s->n_chunks++;
    s->n_mem = s->buf_len = 0;
    uncharge(s);
    // SPILL_FAN_IN runs of one level become one of the next
    while (s->sorted && s->n_runs >= SPILL_FAN_IN) {
        int l = s->level[s->n_runs - 1];
        size_t k = 1;
        while (k < SPILL_FAN_IN && s->level[s->n_runs - 1 - k] == l) k++;
        if (k < SPILL_FAN_IN) break;
        if ((rc = merge_tail(s, SPILL_FAN_IN, l + 1, err)) != TAP_OK) return rc;
    }
    return TAP_OK;
}

// Room for one more record of len bytes in the chunk, spilling it first when the budget says so.
// The budget counts the bytes the records and their offsets take (buffers grow by doubling, so
// the memory is below twice that).
static int make_room(Spill *s, size_t len, TapError *err) {
    SpillBudget *b = s->budget;
    size_t need = s->buf_len + 4 + len + (s->n_mem + 1) * sizeof *s->off;
    if (b->limit && s->n_mem && b->used - s->charged + need > b->limit) {
        int rc = spill_chunk(s, err);
        if (rc != TAP_OK) return rc;
    }
    size_t need_buf = s->buf_len + 4 + len, need_off = s->n_mem + 1;
    if (need_buf > s->buf_cap) {
        size_t cap = s->buf_cap ? s->buf_cap : 4096;
        while (cap < need_buf) cap *= 2;
        unsigned char *nb = realloc(s->buf, cap);
        if (!nb) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
        s->buf = nb;
        s->buf_cap = cap;
    }
    if (need_off > s->off_cap) {
        size_t cap = s->off_cap ? 2 * s->off_cap : 256;
        size_t *no = realloc(s->off, cap * sizeof *no);
        if (!no) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
        s->off = no;
        s->off_cap = cap;
    }
    return TAP_OK;
}

int spill_add(Spill *s, const void *rec, size_t len, TapError *err) {
    TAP_ASSERT(!s->reading);
    if (len >= (size_t)INT32_MAX)
        return tap_error_set(err, TAP_ERR_ARG, "a record of %zu bytes is too long", len);
    int rc = make_room(s, len, err);
    if (rc != TAP_OK) return rc;
    uint32_t n = (uint32_t)len;
    s->off[s->n_mem++] = s->buf_len;
    memcpy(s->buf + s->buf_len, &n, sizeof n);
    if (len) memcpy(s->buf + s->buf_len + 4, rec, len);
    s->buf_len += 4 + len;
    s->n++;
    recharge(s);
    return TAP_OK;
}

int spill_add_str(Spill *s, const char *str, TapError *err) {
    return spill_add(s, str, strlen(str) + 1, err);
}

int spill_finish(Spill *s, TapError *err) {
    TAP_ASSERT(!s->reading);
    s->reading = 1;
    int rc = TAP_OK;
    if (!s->sorted && s->n_runs) {
        // the ordered run holds the first records: spill the rest behind them
        if ((rc = spill_chunk(s, err)) != TAP_OK) return rc;
        if ((rc = run_seal(s->run[0], s->budget, err)) != TAP_OK) return rc;
    }
    // a list that spilled spills its last chunk too: while it is read (a directory's entries
    // while its subdirectories are walked), only the runs' buffers stay
    if (s->sorted && s->n_runs && (rc = spill_chunk(s, err)) != TAP_OK) return rc;
    if (s->n_runs) {
        free(s->buf);
        free(s->off);
        s->buf = NULL;
        s->off = NULL;
        s->buf_cap = s->off_cap = 0;
    }
    sort_chunk(s);
    // at most SPILL_FAN_IN runs are read at once
    while (s->sorted && s->n_runs > SPILL_FAN_IN) {
        size_t excess = s->n_runs - SPILL_FAN_IN, k = excess + 1;
        if (k > SPILL_FAN_IN) k = SPILL_FAN_IN;
        if ((rc = merge_tail(s, k, s->level[s->n_runs - 1] + 1, err)) != TAP_OK) return rc;
    }
    return sources_open(s, 0, s->n_runs, 1, err);
}

int spill_next(Spill *s, const unsigned char **rec, size_t *len, TapError *err) {
    TAP_ASSERT(s->reading);
    if (s->pending >= 0) {
        int rc = source_advance(s, &s->src[s->pending], err);
        s->pending = -1;
        if (rc != TAP_OK) return rc;
    }
    long k = source_min(s);
    if (k < 0) return 0;
    *rec = s->src[k].rec;
    *len = s->src[k].len;
    s->pending = k;
    return 1;
}

void spill_free(Spill *s) {
    sources_free(s);
    for (size_t k = 0; k < s->n_runs; k++) fclose(s->run[k]);
    free(s->run);
    free(s->level);
    free(s->buf);
    free(s->off);
    if (s->budget) uncharge(s);
    SpillBudget *b = s->budget;
    memset(s, 0, sizeof *s);
    s->budget = b;
    s->pending = -1;
}

// ---------------------------------------------------------------------------- bits

int spill_bits_init(SpillBits *b, SpillBudget *budget, size_t n, TapError *err) {
    memset(b, 0, sizeof *b);
    b->budget = budget;
    b->n = n;
    size_t bytes = n / 8 + 1;
    if (!budget->limit || budget->used + bytes <= budget->limit) {
        if (!(b->mem = calloc(bytes, 1))) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
        b->charged = bytes;
        budget->used += bytes;
        return TAP_OK;
    }
    if (!(b->file = tmp_open(budget, err))) return err ? err->code : TAP_ERR_IO;
    if (ftruncate(fileno(b->file), (off_t)bytes) != 0) return write_error(budget, errno, err);
    return TAP_OK;
}

static int bits_byte(SpillBits *b, size_t i, unsigned char *byte, TapError *err) {
    if (b->mem) {
        *byte = b->mem[i / 8];
        return TAP_OK;
    }
    if (pread(fileno(b->file), byte, 1, (off_t)(i / 8)) != 1)
        return tap_error_set(err, TAP_ERR_IO, "cannot read back a temporary file in %s: %s",
                             tmp_dir(b->budget), strerror(errno));
    return TAP_OK;
}

int spill_bits_get(SpillBits *b, size_t i, TapError *err) {
    TAP_ASSERT(i < b->n);
    unsigned char byte;
    int rc = bits_byte(b, i, &byte, err);
    return rc != TAP_OK ? rc : (byte >> (i % 8)) & 1;
}

int spill_bits_set(SpillBits *b, size_t i, TapError *err) {
    TAP_ASSERT(i < b->n);
    unsigned char byte;
    int rc = bits_byte(b, i, &byte, err);
    if (rc != TAP_OK) return rc;
    byte |= (unsigned char)(1u << (i % 8));
    if (b->mem) {
        b->mem[i / 8] = byte;
    } else if (pwrite(fileno(b->file), &byte, 1, (off_t)(i / 8)) != 1) {
        return write_error(b->budget, errno, err);
    }
    return TAP_OK;
}

void spill_bits_free(SpillBits *b) {
    free(b->mem);
    if (b->file) fclose(b->file);
    if (b->budget) b->budget->used -= b->charged;
    memset(b, 0, sizeof *b);
}
