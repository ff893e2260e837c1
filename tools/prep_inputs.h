// tap prep's inputs: the InkML paths of the command line, its directories and its --list file,
// in order, and the duplicate-uid check over them. Both live in Spills (spill.h), so their
// memory is bounded whatever the number of files (docs/data.md, "Large corpora").
#ifndef TAP_TOOLS_PREP_INPUTS_H
#define TAP_TOOLS_PREP_INPUTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "spill.h"
#include "tap.h"

// Where the input paths go as they are found: the ordered list of them, and the records of the
// duplicate-uid check (uid, '\0', input index in 8 big-endian bytes) sorted by uid. The output's
// device and inode are compared with each input's on the way, since the list is never whole in
// memory; the first match is handed to outfile_check, which refuses it with its own message.
typedef struct {
    Spill *paths, *uids;
    SpillBudget *walk_mem; // each directory's entries
    struct stat out;       // the output, when out_exists
    int out_exists;
    char *out_is; // the first input that is the output, or NULL; the caller frees it
} PrepInputs;

// paths and uids are initialised Spills (uids sorted); out is stat'ed now, so that an input that
// is the output is noticed however the inputs name it.
void prep_inputs_init(PrepInputs *c, Spill *paths, Spill *uids, SpillBudget *walk_mem,
                      const char *out);
// The positional inputs in order, then the --list ones (list may be NULL). Returns 0, 2 (usage)
// when the list cannot be read, or 1 when an input fails (an unreadable directory); msg says
// why.
int prep_inputs_collect(PrepInputs *c, char *const *pos, int n_pos, const char *list, char *msg,
                        size_t len);

// The duplicate check without a set of every uid: the (uid, index) records of all inputs,
// sorted by uid, give the uids that more than one input has (a uid is the file name without
// .inkml, inkml_uid_of, so it is known before the file is read). Each such uid is a group,
// numbered g = 0, 1, ...; its inputs become (index, g) records sorted by input index, which the
// write loop reads alongside the inputs; one bit per group says whether an input of the group
// was converted. Exact, and the memory is the Spills' budget plus one bit per repeated uid
// (SpillBits moves the bits to a file beyond the budget).
typedef struct {
    Spill members; // (index 8 bytes big-endian, group 8 bytes) of inputs whose uid repeats
    SpillBits converted; // (groups) an input of the group was converted
    int live;            // next_index/next_group hold the next record
    uint64_t next_index, next_group;
} Repeats;

// Reads the uid records (sorted by uid, then index) into r, ready for the write loop; uids is
// freed, done or not.
int repeats_build(Repeats *r, Spill *uids, SpillBudget *mem, TapError *err);
// Whether input i's uid repeats: 1 with its group, 0, or an error. Called for every index in
// order.
int repeats_group(Repeats *r, size_t i, uint64_t *group, TapError *err);
void repeats_free(Repeats *r);

#endif
