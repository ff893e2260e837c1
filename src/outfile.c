#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int outfile_tmp_name(const char *path, char *tmp, size_t cap, TapError *err) {
    if ((size_t)snprintf(tmp, cap, "%s.tmp", path) >= cap)
        return tap_error_set(err, TAP_ERR_ARG, "path too long: %.200s...", path);
    return TAP_OK;
}

int outfile_sync(const char *path, int dir) {
    int fd = open(path, dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static const char *node_kind(mode_t m) {
    return S_ISFIFO(m)  ? "a FIFO"
           : S_ISCHR(m) ? "a character device"
           : S_ISBLK(m) ? "a block device"
           : S_ISDIR(m) ? "a directory"
           : S_ISSOCK(m) ? "a socket"
                         : "not a regular file";
}

int outfile_check(const char *path, const char *const *inputs, size_t n, TapError *err) {
    struct stat out, in;
    if (stat(path, &out) == 0) {
        if (!S_ISREG(out.st_mode))
            return tap_error_set(err, TAP_ERR_ARG,
                                 "refusing to write the output %s: it is %s, not a regular file",
                                 path, node_kind(out.st_mode));
        for (size_t i = 0; i < n; i++)
            if (inputs[i] && stat(inputs[i], &in) == 0 && in.st_dev == out.st_dev &&
                in.st_ino == out.st_ino)
                return tap_error_set(err, TAP_ERR_ARG,
                                     "refusing to write the output %s: it is the input %s", path,
                                     inputs[i]);
    }
    size_t len = strlen(path) + 5;
    char *tmp = malloc(len);
    if (!tmp) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    snprintf(tmp, len, "%s.tmp", path);
    int rc = TAP_OK;
    if (lstat(tmp, &out) == 0 && !S_ISREG(out.st_mode) && !S_ISLNK(out.st_mode))
        rc = tap_error_set(err, TAP_ERR_ARG,
                           "refusing to write the output %s: its temporary file %s is %s", path,
                           tmp, node_kind(out.st_mode));
    free(tmp);
    return rc;
}

void outfile_dir_of(const char *path, char *out, size_t cap) {
    snprintf(out, cap, "%s", path);
    char *slash = strrchr(out, '/');
    if (!slash)
        snprintf(out, cap, ".");
    else if (slash == out)
        out[1] = '\0';
    else
        *slash = '\0';
}

int outfile_publish(const char *tmp, const char *path, int durable, TapError *err) {
    if (durable && outfile_sync(tmp, 0) != 0) {
        int rc = tap_error_set(err, TAP_ERR_IO, "%s: cannot flush to disk: %s", tmp, strerror(errno));
        remove(tmp);
        return rc;
    }
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        int rc = tap_error_set(err, TAP_ERR_ARG,
                               "refusing to replace %s: it is %s, not a regular file", path,
                               node_kind(st.st_mode));
        remove(tmp);
        return rc;
    }
    if (rename(tmp, path) != 0) {
        int rc = tap_error_set(err, TAP_ERR_IO, "cannot rename %s to %s: %s", tmp, path,
                               strerror(errno));
        remove(tmp);
        return rc;
    }
    if (durable) {
        char dir[4096];
        outfile_dir_of(path, dir, sizeof dir);
        outfile_sync(dir, 1); // best effort: some file systems refuse fsync on directories
    }
    return TAP_OK;
}

int outfile_open(OutFile *o, const char *path, TapError *err) {
    memset(o, 0, sizeof *o);
    int bad = outfile_check(path, NULL, 0, err);
    if (bad) return bad;
    size_t len = strlen(path) + 5;
    o->path = strdup(path);
    o->tmp = malloc(len);
    if (!o->path || !o->tmp) {
        outfile_abort(o);
        return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    }
    snprintf(o->tmp, len, "%s.tmp", path);
    if (!(o->f = fopen(o->tmp, "w"))) {
        int rc = tap_error_set(err, TAP_ERR_IO, "%s: cannot create: %s", o->tmp, strerror(errno));
        outfile_abort(o);
        return rc;
    }
    return TAP_OK;
}

int outfile_commit(OutFile *o, TapError *err) {
    int bad = ferror(o->f) != 0;
    bad |= fclose(o->f) != 0;
    o->f = NULL;
    int rc = bad ? tap_error_set(err, TAP_ERR_IO, "%s: write failed (disk full?)", o->tmp)
                 : outfile_publish(o->tmp, o->path, 0, err);
    outfile_abort(o);
    return rc;
}

void outfile_abort(OutFile *o) {
    if (o->f) fclose(o->f);
    if (o->tmp) remove(o->tmp); // a no-op after a successful rename
    free(o->path);
    free(o->tmp);
    memset(o, 0, sizeof *o);
}
