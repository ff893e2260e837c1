// The directory walk of walk.h. Each directory's entries are classified by stat, then sorted by
// name with a '/' after each directory's name: walking depth-first in that order lists the full
// paths in strcmp order with no final sort, because the parent's path is a common prefix and no
// name holds a '/'. The entries of one directory are a sorted Spill (spill.h): within the
// budget they are sorted in memory, beyond it by an external merge sort.
#include "walk.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <stdio.h>

// ---------------------------------------------------------------------------- the list

static int list_take(WalkList *l, char *p, TapError *err) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        char **v = realloc(l->path, cap * sizeof *v);
        if (!v) {
            free(p);
            return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
        }
        l->path = v;
        l->cap = cap;
    }
    l->path[l->n++] = p;
    return TAP_OK;
}

int walk_list_add(WalkList *l, const char *path, TapError *err) {
    char *p = strdup(path);
    if (!p) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    return list_take(l, p, err);
}

static void list_truncate(WalkList *l, size_t n) {
    while (l->n > n) free(l->path[--l->n]);
}

void walk_list_free(WalkList *l) {
    list_truncate(l, 0);
    free(l->path);
    memset(l, 0, sizeof *l);
}

// ---------------------------------------------------------------------------- directories seen

typedef struct {
    dev_t dev;
    ino_t ino;
    int used;
} DirId;

typedef struct {
    const char *root;
    DirId *slot; // (cap) open addressing, cap a power of two, at most half full
    size_t n_dirs, cap;
    size_t n_entries; // directory entries read so far
    SpillBudget *budget; // for each directory's entries
    WalkEmit emit;
    void *ctx;
} Walk;

// 1 when id was put into slot, 0 when it was there already.
static int slot_put(DirId *slot, size_t cap, DirId id) {
    uint64_t h = ((uint64_t)id.ino ^ ((uint64_t)id.dev << 32)) * 0x9E3779B97F4A7C15ull;
    for (size_t i = (size_t)(h >> 32) & (cap - 1);; i = (i + 1) & (cap - 1)) {
        if (!slot[i].used) {
            slot[i] = id;
            return 1;
        }
        if (slot[i].dev == id.dev && slot[i].ino == id.ino) return 0;
    }
}

// 1 when the directory is new (now remembered), 0 when it was entered before, or an error.
static int dir_first_visit(Walk *w, const struct stat *st, TapError *err) {
    if (2 * (w->n_dirs + 1) > w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        DirId *slot = calloc(cap, sizeof *slot);
        if (!slot) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < w->cap; i++)
            if (w->slot[i].used) slot_put(slot, cap, w->slot[i]);
        free(w->slot);
        w->slot = slot;
        w->cap = cap;
    }
    int fresh = slot_put(w->slot, w->cap, (DirId){st->st_dev, st->st_ino, 1});
    w->n_dirs += (size_t)fresh;
    return fresh;
}

// ---------------------------------------------------------------------------- the walk

static int is_inkml_name(const char *name) {
    size_t n = strlen(name);
    return n > 6 && !strcmp(name + n - 6, ".inkml");
}

// dir/name (no doubled '/'), with room for one more byte; NULL when out of memory.
static char *join(const char *dir, const char *name) {
    size_t d = strlen(dir), len = d + strlen(name) + 3;
    char *p = malloc(len);
    if (p) snprintf(p, len, "%s%s%s", dir, d && dir[d - 1] == '/' ? "" : "/", name);
    return p;
}

// Adds dir/name to the entries when it is a directory (with a '/' after it) or a file to list.
static int classify(const char *dir, const char *name, Spill *entries, TapError *err) {
    char *path = join(dir, name);
    if (!path) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    struct stat st;
    int ok = stat(path, &st) == 0, rc = TAP_OK;
    if (ok && S_ISDIR(st.st_mode)) {
        strcat(path, "/");
        rc = spill_add_str(entries, path, err);
    } else if (!ok && errno != ENOENT && errno != ELOOP) {
        // ENOENT and ELOOP after readdir found the name: a dangling or looping link
        rc = tap_error_set(err, TAP_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    } else if (is_inkml_name(name) && (!ok || S_ISREG(st.st_mode))) {
        rc = spill_add_str(entries, path, err);
    }
    free(path);
    return rc;
}

// Reads dir's entries into entries, classified; closes d.
static int read_entries(Walk *w, DIR *d, const char *dir, Spill *entries, TapError *err) {
    int rc = TAP_OK;
    for (struct dirent *de;;) {
        errno = 0;
        if (!(de = readdir(d))) {
            if (errno)
                rc = tap_error_set(err, TAP_ERR_IO, "%s: cannot read directory: %s", dir,
                                   strerror(errno));
            break;
        }
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (++w->n_entries > WALK_MAX_ENTRIES) {
            rc = tap_error_set(err, TAP_ERR_ARG, "%s: more than %d entries below %s", dir,
                               WALK_MAX_ENTRIES, w->root);
            break;
        }
        if ((rc = classify(dir, de->d_name, entries, err)) != TAP_OK) break;
    }
    closedir(d);
    return rc;
}

static int walk_dir(Walk *w, const char *dir, int depth, TapError *err) {
    if (depth > WALK_MAX_DEPTH)
        return tap_error_set(err, TAP_ERR_ARG, "%s: more than %d levels of directories below %s",
                             dir, WALK_MAX_DEPTH, w->root);
    DIR *d = opendir(dir);
    if (!d)
        return tap_error_set(err, TAP_ERR_IO, "%s: cannot open directory: %s", dir,
                             strerror(errno));
    struct stat st;
    int rc = fstat(dirfd(d), &st) == 0
                 ? dir_first_visit(w, &st, err)
                 : tap_error_set(err, TAP_ERR_IO, "%s: cannot stat: %s", dir, strerror(errno));
    if (rc != 1) {
        closedir(d);
        return rc; // TAP_OK (0) when entered before
    }
    // The entries in strcmp order of their paths, a directory's with a '/' after it.
    Spill entries;
    spill_init(&entries, w->budget, 1);
    rc = read_entries(w, d, dir, &entries, err);
    if (rc == TAP_OK) rc = spill_finish(&entries, err);
    const unsigned char *rec;
    size_t len;
    while (rc == TAP_OK && (rc = spill_next(&entries, &rec, &len, err)) == 1) {
        const char *path = (const char *)rec; // '\0'-terminated, len counts it
        if (len >= 2 && path[len - 2] == '/') {
            char *sub = strdup(path); // rec is only valid until the next spill_next
            if (!sub) {
                rc = tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
                break;
            }
            sub[len - 2] = '\0';
            rc = walk_dir(w, sub, depth + 1, err);
            free(sub);
        } else {
            rc = w->emit(w->ctx, path, err);
        }
    }
    spill_free(&entries);
    return rc;
}

int walk_inkml_each(const char *root, SpillBudget *budget, WalkEmit emit, void *ctx,
                    TapError *err) {
    SpillBudget memory = {0}; // no limit: everything stays in memory
    Walk w = {.root = root, .budget = budget ? budget : &memory, .emit = emit, .ctx = ctx};
    int rc = walk_dir(&w, root, 0, err);
    free(w.slot);
    return rc;
}

static int emit_to_list(void *ctx, const char *path, TapError *err) {
    return walk_list_add(ctx, path, err);
}

int walk_inkml(const char *root, WalkList *out, TapError *err) {
    size_t n0 = out->n;
    int rc = walk_inkml_each(root, NULL, emit_to_list, out, err);
    if (rc != TAP_OK) list_truncate(out, n0);
    return rc;
}
