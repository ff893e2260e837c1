// Lists of byte records whose memory is bounded whatever their length: records are kept in
// memory up to a budget, then the chunk goes to a temporary file (a "run"). A sorted list sorts
// each chunk before it spills and merges the runs when read (external merge sort); an ordered
// list gives the records back in the order they were added. `tap prep` keeps its list of input
// paths, each directory's entries and its duplicate-uid check in them, so that a corpus of any
// size is converted in the same memory (docs/data.md, "Large corpora").
//
// Temporary files are made in SpillBudget.dir with mkstemp and unlinked at once: they never show
// in the directory and vanish on every exit, a crash or a kill included. Each open run costs a
// file descriptor and a stdio buffer (SPILL_IO_BUFFER bytes); runs are merged SPILL_FAN_IN at a
// time as they pile up, so a list holds at most SPILL_FAN_IN runs per level of merging
// (log_FAN_IN of the number of chunks).
#ifndef TAP_DATA_SPILL_H
#define TAP_DATA_SPILL_H

#include <stdio.h>

#include "tap.h"

enum { SPILL_FAN_IN = 8, SPILL_IO_BUFFER = 32768 };

// Memory shared by the lists given it: limit bytes (0: no limit, nothing ever spills) of record
// buffers in all, used of which are taken. dir: where runs go (NULL or "": $TMPDIR, else /tmp).
typedef struct {
    size_t limit, used;
    const char *dir;
} SpillBudget;

typedef struct SpillSource SpillSource;

typedef struct {
    SpillBudget *budget;
    int sorted; // 1: memcmp order (a prefix first); 0: the order added
    // the chunk in memory: records [u32 len][bytes] back to back, and their offsets
    unsigned char *buf;
    size_t buf_len, buf_cap;
    size_t *off; // (n_mem)
    size_t n_mem, off_cap;
    size_t charged; // bytes of buf and off charged to the budget
    // the runs: unlinked temporary files of [u32 len][bytes] records
    FILE **run;
    int *level; // (n_runs) merges a run has been through
    size_t n_runs, run_cap;
    size_t n;        // records added
    size_t n_chunks; // chunks written to runs (tests)
    size_t n_merges; // merges of runs into one before reading (tests)
    // reading
    int reading;
    SpillSource *src; // (n_src) the runs then the chunk in memory
    size_t n_src, mem_next;
    long pending; // source whose record was returned last, to advance on the next call; -1 none
} Spill;

// An empty list drawing on budget (not NULL; limit 0 for a list that stays in memory).
void spill_init(Spill *s, SpillBudget *budget, int sorted);
// Appends len bytes (len < 2^31). Errors: out of memory, a temporary file that cannot be
// created or written ("... (disk full?)").
int spill_add(Spill *s, const void *rec, size_t len, TapError *err);
// Appends a C string without its '\0'.
int spill_add_str(Spill *s, const char *str, TapError *err);
// Ends adding and starts reading from the first record. Sorted lists may merge runs here.
int spill_finish(Spill *s, TapError *err);
// The next record: 1 with *rec (valid until the next call; not '\0'-terminated unless added
// with spill_add_str, whose records end with a '\0' here) and *len, 0 at the end, or an error.
int spill_next(Spill *s, const unsigned char **rec, size_t *len, TapError *err);
// Releases memory and closes (so removes) the temporary files.
void spill_free(Spill *s);

// One bit per number below n, in memory when n/8 bytes fit the budget (charged to it), else in
// an unlinked temporary file read and written a byte at a time.
typedef struct {
    SpillBudget *budget;
    unsigned char *mem;
    FILE *file;
    size_t n, charged;
} SpillBits;

int spill_bits_init(SpillBits *b, SpillBudget *budget, size_t n, TapError *err);
// The bit of i (0 or 1), or an error.
int spill_bits_get(SpillBits *b, size_t i, TapError *err);
int spill_bits_set(SpillBits *b, size_t i, TapError *err);
void spill_bits_free(SpillBits *b);

#endif
