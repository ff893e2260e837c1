// The directory walk of walk.h. Each directory's entries are classified by stat, then sorted by
// name with a '/' after each directory's name: walking depth-first in that order lists the full
// paths in strcmp order with no final sort, because the parent's path is a common prefix and no
// name holds a '/'.
#include "walk.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

typedef struct {
    char *path; // ends with '/' for a directory while the entries are sorted
    int dir;
} Entry;

static int by_path(const void *a, const void *b) {
    return strcmp(((const Entry *)a)->path, ((const Entry *)b)->path);
}

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

// Classifies dir/name into e: a directory, a file to list, or nothing (e->path NULL).
static int classify(const char *dir, const char *name, Entry *e, TapError *err) {
    e->dir = 0;
    if (!(e->path = join(dir, name))) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    struct stat st;
    int ok = stat(e->path, &st) == 0;
    if (ok && S_ISDIR(st.st_mode)) {
        e->dir = 1;
        strcat(e->path, "/");
        return TAP_OK;
    }
    // ENOENT and ELOOP after readdir found the name: a dangling or looping link.
    if (!ok && errno != ENOENT && errno != ELOOP) {
        int rc = tap_error_set(err, TAP_ERR_IO, "%s: cannot stat: %s", e->path, strerror(errno));
        free(e->path), e->path = NULL;
        return rc;
    }
    if (!is_inkml_name(name) || (ok && !S_ISREG(st.st_mode))) free(e->path), e->path = NULL;
    return TAP_OK;
}

// Reads dir's entries into *v (n of them), classified; closes d.
static int read_entries(Walk *w, DIR *d, const char *dir, Entry **v, size_t *n, TapError *err) {
    size_t cap = 0;
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
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            Entry *grown = realloc(*v, cap * sizeof *grown);
            if (!grown) {
                rc = tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
                break;
            }
            *v = grown;
        }
        if ((rc = classify(dir, de->d_name, &(*v)[*n], err)) != TAP_OK) break;
        if ((*v)[*n].path) (*n)++;
    }
    closedir(d);
    return rc;
}

static int walk_dir(Walk *w, const char *dir, int depth, WalkList *out, TapError *err) {
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
    Entry *v = NULL;
    size_t n = 0, i = 0;
    rc = read_entries(w, d, dir, &v, &n, err);
    if (rc == TAP_OK && n > 1) qsort(v, n, sizeof *v, by_path);
    for (; i < n && rc == TAP_OK; i++) {
        if (v[i].dir) {
            v[i].path[strlen(v[i].path) - 1] = '\0';
            rc = walk_dir(w, v[i].path, depth + 1, out, err);
            free(v[i].path);
        } else {
            rc = list_take(out, v[i].path, err);
        }
    }
    for (; i < n; i++) free(v[i].path);
    free(v);
    return rc;
}

int walk_inkml(const char *root, WalkList *out, TapError *err) {
    Walk w = {.root = root};
    size_t n0 = out->n;
    int rc = walk_dir(&w, root, 0, out, err);
    free(w.slot);
    if (rc != TAP_OK) list_truncate(out, n0);
    return rc;
}
