// tap prep's input list and duplicate-uid check (prep_inputs.h).
#include "prep_inputs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inkml.h"
#include "walk.h"

// ----------------------------------------------------------------------------- inputs

static void put_be64(unsigned char *p, uint64_t v) {
    for (int k = 7; k >= 0; k--, v >>= 8) p[k] = (unsigned char)v;
}

static uint64_t get_be64(const unsigned char *p) {
    uint64_t v = 0;
    for (int k = 0; k < 8; k++) v = v << 8 | p[k];
    return v;
}

static int collect_path(void *ctx, const char *path, TapError *err) {
    PrepInputs *c = ctx;
    size_t i = c->paths->n;
    if (i >= UINT32_MAX) return tap_error_set(err, TAP_ERR_ARG, "more than 2^32 - 1 input files");
    struct stat st;
    if (c->out_exists && !c->out_is && stat(path, &st) == 0 && st.st_dev == c->out.st_dev &&
        st.st_ino == c->out.st_ino && !(c->out_is = strdup(path)))
        return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    const char *uid;
    size_t n = inkml_uid_of(path, &uid);
    unsigned char stack[512], *rec = n + 9 <= sizeof stack ? stack : malloc(n + 9);
    if (!rec) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    memcpy(rec, uid, n);
    rec[n] = '\0';
    put_be64(rec + n + 1, i);
    int rc = spill_add(c->uids, rec, n + 9, err);
    if (rec != stack) free(rec);
    return rc == TAP_OK ? spill_add_str(c->paths, path, err) : rc;
}

// A directory is searched (walk.h); anything else is taken as a file (if unreadable, it is
// skipped later).
static int add_input(PrepInputs *c, const char *p, TapError *err) {
    struct stat st;
    if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
        return walk_inkml_each(p, c->walk_mem, collect_path, c, err);
    return collect_path(c, p, err);
}

// --list: one input a line, # comments. Returns 0, 2 (usage) when the list cannot be read, or 1
// when an input fails (an unreadable directory); msg says why.
static int add_list(PrepInputs *c, const char *list, char *msg, size_t len) {
    FILE *f = fopen(list, "r");
    if (!f) {
        snprintf(msg, len, "cannot read list %s: %s", list, strerror(errno));
        return 2;
    }
    char *line = NULL; // a line of any length is one path
    size_t cap = 0;
    ssize_t got;
    TapError err = {0};
    int rc = TAP_OK;
    while (rc == TAP_OK && (got = getline(&line, &cap, f)) >= 0) {
        char *s = line, *e = line + got;
        while (*s == ' ' || *s == '\t') s++;
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        if (*s && *s != '#') rc = add_input(c, s, &err);
    }
    free(line);
    fclose(f);
    if (rc == TAP_OK) return 0;
    snprintf(msg, len, "%s", err.msg);
    return 1;
}

void prep_inputs_init(PrepInputs *c, Spill *paths, Spill *uids, SpillBudget *walk_mem,
                      const char *out) {
    *c = (PrepInputs){.paths = paths, .uids = uids, .walk_mem = walk_mem};
    c->out_exists = stat(out, &c->out) == 0 && S_ISREG(c->out.st_mode);
}

int prep_inputs_collect(PrepInputs *c, char *const *pos, int n_pos, const char *list, char *msg,
                        size_t len) {
    TapError err = {0};
    for (int i = 0; i < n_pos; i++)
        if (add_input(c, pos[i], &err) != TAP_OK) {
            snprintf(msg, len, "%s", err.msg);
            return 1;
        }
    return list ? add_list(c, list, msg, len) : 0;
}

// ----------------------------------------------------------------------------- uids seen

static int repeats_advance(Repeats *r, TapError *err) {
    const unsigned char *rec;
    size_t len;
    int got = spill_next(&r->members, &rec, &len, err);
    if (got < 0) return got;
    r->live = got == 1;
    if (r->live) {
        r->next_index = get_be64(rec);
        memcpy(&r->next_group, rec + 8, sizeof r->next_group);
    }
    return TAP_OK;
}

static int member_add(Repeats *r, const unsigned char *index_be, uint64_t group, TapError *err) {
    unsigned char rec[16];
    memcpy(rec, index_be, 8);
    memcpy(rec + 8, &group, 8);
    return spill_add(&r->members, rec, sizeof rec, err);
}

int repeats_build(Repeats *r, Spill *uids, SpillBudget *mem, TapError *err) {
    spill_init(&r->members, mem, 1);
    int rc = spill_finish(uids, err);
    unsigned char *prev = NULL; // the previous record
    size_t prev_len = 0, prev_cap = 0;
    uint64_t groups = 0;
    int in_group = 0;
    const unsigned char *rec;
    size_t len;
    while (rc == TAP_OK && (rc = spill_next(uids, &rec, &len, err)) == 1) {
        // rec: uid, '\0', 8-byte index
        rc = TAP_OK;
        if (prev && len == prev_len && !memcmp(rec, prev, len - 8)) {
            if (!in_group) rc = member_add(r, prev + prev_len - 8, groups, err);
            if (rc == TAP_OK) rc = member_add(r, rec + len - 8, groups, err);
            in_group = 1;
        } else if (in_group) {
            groups++;
            in_group = 0;
        }
        if (rc != TAP_OK) break;
        if (len > prev_cap) {
            unsigned char *grown = realloc(prev, len);
            if (!grown) {
                rc = tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
                break;
            }
            prev = grown;
            prev_cap = len;
        }
        memcpy(prev, rec, len);
        prev_len = len;
    }
    free(prev);
    groups += (uint64_t)in_group;
    spill_free(uids);
    if (rc == TAP_OK) rc = spill_bits_init(&r->converted, mem, (size_t)groups, err);
    if (rc == TAP_OK) rc = spill_finish(&r->members, err);
    if (rc == TAP_OK) rc = repeats_advance(r, err);
    return rc;
}

int repeats_group(Repeats *r, size_t i, uint64_t *group, TapError *err) {
    if (!r->live || r->next_index != i) return 0;
    *group = r->next_group;
    int rc = repeats_advance(r, err);
    return rc == TAP_OK ? 1 : rc;
}

void repeats_free(Repeats *r) {
    spill_free(&r->members);
    spill_bits_free(&r->converted);
}
