// Finding the InkML files below a directory. `tap prep`, `tap decode` and `tap render` share this
// one rule, so that the same directory gives every command the same files in the same order.
#ifndef TAP_DATA_WALK_H
#define TAP_DATA_WALK_H

#include <stddef.h>

#include "spill.h"
#include "tap.h"

// Bounds that turn a runaway tree (a mount loop, a generated maze) into an error.
enum { WALK_MAX_DEPTH = 64, WALK_MAX_ENTRIES = 10000000 };

typedef struct {
    char **path; // (n) malloc'd, owned by the list
    size_t n, cap;
} WalkList;

// Appends a copy of path.
int walk_list_add(WalkList *l, const char *path, TapError *err);
void walk_list_free(WalkList *l);

// Appends to out, in strcmp order of the full paths, every regular file below the directory root
// (at any depth) whose name ends in ".inkml" and is longer than that; hidden names count too.
// A path is root, '/' (unless root ends with one) and the names below it.
//   - Symbolic links are followed, and each directory (device + inode) is entered once only, so
//     links back up the tree end the walk instead of looping.
//   - FIFOs, sockets and devices are never listed, whatever their name (opening a FIFO blocks).
//   - A dangling or looping link named *.inkml is listed: loading it then reports the failure.
// Errors, naming the path (out is then as it was): an unreadable directory or entry, more than
// WALK_MAX_DEPTH levels below root, more than WALK_MAX_ENTRIES entries, out of memory.
int walk_inkml(const char *root, WalkList *out, TapError *err);

// The same files in the same order, each passed to emit as it is found (a non-TAP_OK return ends
// the walk with that status) instead of collected. Each directory's entries are sorted within
// budget (NULL: in memory), spilling to temporary files beyond it (spill.h), so a directory of
// any size is walked in bounded memory; what remains is one DirId per directory entered and
// the path of each directory being walked.
typedef int (*WalkEmit)(void *ctx, const char *path, TapError *err);
int walk_inkml_each(const char *root, SpillBudget *budget, WalkEmit emit, void *ctx,
                    TapError *err);

#endif
