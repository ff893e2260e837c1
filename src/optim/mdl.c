#include "mdl.h"

#include <math.h>
#include <string.h>

double mdl_bits(double nats) { return nats / log(2.0); }

void mdl_reset(MdlAccount *a) { memset(a, 0, sizeof *a); }

void mdl_add(MdlAccount *a, double nats, long n_sequences, long n_tokens) {
    a->data_nats += nats;
    a->n_sequences += (double)n_sequences;
    a->n_tokens += (double)n_tokens;
}

void mdl_report(const MdlAccount *a, double model_nats, int vocab, size_t n_weights, MdlReport *r) {
    memset(r, 0, sizeof *r);
    r->error_bits = mdl_bits(a->data_nats);
    r->model_bits = mdl_bits(model_nats);
    r->total_bits = r->error_bits + r->model_bits;
    r->uniform_bits = vocab > 1 ? a->n_tokens * log2((double)vocab) : 0.0;
    if (r->uniform_bits > 0.0) r->ratio = r->total_bits / r->uniform_bits;
    if (a->n_tokens > 0.0) r->bits_per_token = r->total_bits / a->n_tokens;
    if (n_weights) r->bits_per_weight = r->model_bits / (double)n_weights;
}
