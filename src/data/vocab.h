// TAP's symbol dictionary: "token<TAB>id" lines (data/dictionary.txt, 111 tokens, <eol> = 0).
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

#endif
