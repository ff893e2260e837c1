// Symbol dictionaries: "token<TAB>id" lines (TAP's data/dictionary.txt, 111 tokens, <eol> = 0, or
// one built from a corpus by `tap prep --build-vocab`), and token counts to build them.
#ifndef TAP_DATA_VOCAB_H
#define TAP_DATA_VOCAB_H

#include "tap.h"

typedef struct {
    int n;          // tokens; ids are 0..n-1
    char **tokens;  // (n) id -> token
    int cap;        // hash slots (power of two, >= 2n)
    int *slots;     // (cap) token ids by hash of the token, -1 = empty
} Vocab;

// Loads a dictionary. Ids must be exactly 0..n-1 (any order), tokens unique and free of
// whitespace. A missing file is TAP_ERR_IO; a malformed line, a duplicate token or id, or a gap
// in the ids is TAP_ERR_FORMAT naming the file and line. On failure v is left empty.
int vocab_load(const char *path, Vocab *v, TapError *err);
// Id of token, or -1 when it is not in the vocabulary.
int vocab_id(const Vocab *v, const char *token);
// Token of id, or NULL when id is out of range.
const char *vocab_token(const Vocab *v, int id);
void vocab_free(Vocab *v);
// Builds v from tokens (id = index; copied), checked as vocab_load checks a file (no blanks or
// control bytes, no duplicates, at least one token); `what` names the source in messages.
int vocab_from_tokens(Vocab *v, const char *const *tokens, int n, const char *what,
                      TapError *err);

// Token counts over a corpus, for dictionaries built from data (`tap prep --build-vocab`).
typedef struct {
    int n;            // distinct tokens
    char **tokens;    // (n) in first-seen order
    long long *count; // (n)
    int cap;          // hash slots (power of two, >= 2n)
    int *slots;       // (cap) indices into tokens, -1 = empty
} VocabCounter;

// Counts one occurrence of token. TAP_ERR_NOMEM, or TAP_ERR_FORMAT for a token with blanks or
// control bytes (it could not be a dictionary line).
int vocab_counter_add(VocabCounter *c, const char *token, TapError *err);
// Writes "token<TAB>id" lines to path (written whole, then renamed): "<eol>" as 0, then every
// token counted at least min_count times, most frequent first (ties in byte order), then
// "<unk>" when some token was left out (for tap prep --unknown map --map-token '<unk>').
// *n_tokens gets the dictionary's size and *n_dropped the tokens left out (either may be NULL).
int vocab_counter_write(const VocabCounter *c, const char *path, long long min_count,
                        int *n_tokens, int *n_dropped, TapError *err);
void vocab_counter_free(VocabCounter *c);

#endif
