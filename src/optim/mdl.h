// Description-length accounting for variational training (Graves 2011, sec. 3 and 7):
// L = L^E + L^C bits, where L^E is the expected data cost under Q (estimated by the summed
// negative log-likelihood of the noisy forward passes over the training set, one draw per
// sequence) and L^C the model cost (KL(Q || P) for Gaussian posteriors; the negative log prior
// density for delta posteriors). The compression ratio compares L with coding the training
// targets uniformly over the vocabulary: n_tokens log2 V bits. Ratio < 1 means the network
// (weights included) is a better code for the labels than no model at all.
#ifndef TAP_OPTIM_MDL_H
#define TAP_OPTIM_MDL_H

#include <stddef.h>

typedef struct {
    double data_nats;   // sum of per-sequence NLL at sampled weights, this epoch
    double n_sequences; // sequences added
    double n_tokens;    // target tokens coded (each sequence's <eol> included)
} MdlAccount;

typedef struct {
    double error_bits;      // L^E
    double model_bits;      // L^C
    double total_bits;      // L^E + L^C
    double uniform_bits;    // n_tokens log2 V
    double ratio;           // total_bits / uniform_bits (0 when nothing was added)
    double bits_per_token;  // total_bits / n_tokens
    double bits_per_weight; // model_bits / n_weights
} MdlReport;

double mdl_bits(double nats);
void mdl_reset(MdlAccount *a);
// Adds one batch: `nats` summed over its n_sequences sequences and their n_tokens targets.
void mdl_add(MdlAccount *a, double nats, long n_sequences, long n_tokens);
// model_nats is the unscaled L^C (variational_model_cost); vocab is V (with <eol>).
void mdl_report(const MdlAccount *a, double model_nats, int vocab, size_t n_weights, MdlReport *r);

#endif
