// Files that appear whole or not at all. Everything tap writes goes to PATH.tmp first and is
// renamed over PATH only once complete, so a crash, a full disk or a kill never leaves a
// truncated file under the final name; PATH keeps its previous content until then.
#ifndef TAP_OUTFILE_H
#define TAP_OUTFILE_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"

// "PATH.tmp" into tmp (cap bytes); TAP_ERR_ARG when it does not fit.
int outfile_tmp_name(const char *path, char *tmp, size_t cap, TapError *err);
// Renames the finished tmp over path; durable: fsync tmp first and the directory after (a
// checkpoint that must survive a power cut). On failure tmp is removed and path untouched.
int outfile_publish(const char *tmp, const char *path, int durable, TapError *err);
// fsync of a file or (dir = 1) a directory; 0 or -1 with errno.
int outfile_sync(const char *path, int dir);
// Refuses an output path whose writing would lose a file: one that exists and is not a regular
// file (a FIFO, a device, a directory: the rename would replace the node, or opening it would
// block), likewise its PATH.tmp, or one that is the same file (device and inode) as one of the
// n inputs (NULL entries are skipped). TAP_ERR_ARG with one line naming path and the input.
int outfile_check(const char *path, const char *const *inputs, size_t n, TapError *err);
// The directory part of path ("." when there is none) into out.
void outfile_dir_of(const char *path, char *out, size_t cap);

// A text or binary file written through stdio.
typedef struct {
    FILE *f;
    char *path, *tmp;
} OutFile;

int outfile_open(OutFile *o, const char *path, TapError *err);
// Closes, checks that every write succeeded, publishes; o is released either way.
int outfile_commit(OutFile *o, TapError *err);
// Closes and removes the temporary file (safe after commit and on a zeroed o).
void outfile_abort(OutFile *o);

#endif
