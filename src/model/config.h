// Model dimensions. Letters used throughout src/model:
//   T input steps, S annotations after pooling, B batch, F features (9), H encoder units per
//   direction, C = 2H context, D decoder hidden, A attention (= C, as TAP), Q coverage filters,
//   K coverage kernel, E embedding, V vocabulary, L target length.
#ifndef TAP_MODEL_CONFIG_H
#define TAP_MODEL_CONFIG_H

#define TAP_MAX_LAYERS 8

typedef struct {
    int F;                   // point features per step (TAP: 9)
    int n_layers;            // encoder bi-GRU layers (TAP: 4)
    int H[TAP_MAX_LAYERS];   // units per direction (TAP: 250 each)
    int pool[TAP_MAX_LAYERS];// 1 = keep every other step after this layer (TAP: 0 0 1 1)
    int D;                   // decoder GRU units (TAP: 256)
    int E;                   // target embedding (TAP dim_word: 256); maxout gives E/2
    int V;                   // vocabulary incl. <eol> = 0 (TAP: 111)
    int K;                   // coverage convolution kernel (TAP: 121, odd)
    int Q;                   // coverage filters (TAP: dim_dec = 256)
    int gate;                // 1 = TAP v2 "when to attend" gate; 0 = v1 coverage attention
    float gamma;             // weight of the attention-guidance loss (TAP: 0.1)
    // Run-time setting, not architecture (never saved): the one thread count of src/model.
    // >= 2 runs the two directions of every bidirectional encoder layer and the two halves of
    // the batch in the decoder's time loop (forward and backward pass) on two threads with
    // OpenBLAS at one thread inside; 0 or 1 runs them in turn. Results are bit-identical
    // either way. tap train, tap decode and bench/ set it.
    int threads;
} TapConfig;

void config_default(TapConfig *c);             // TAP's dims
int config_context_dim(const TapConfig *c);    // C = 2 * H[last]
int config_pooled_len(const TapConfig *c, int T); // S for T input steps (ceil halving per pool)
// TAP_OK, or TAP_ERR_ARG with a message naming the bad field.
struct TapError;
int config_check(const TapConfig *c, struct TapError *err);

#endif
