// Options, presets and their resolution for `tap train` (see train_config.h).
#include "train_config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

int train_options_default(TrainOptions *o, const char *preset) {
    *o = (TrainOptions){
        .preset = "tap",
        .enc_layers = 4,
        .enc_units = "250,250,250,250",
        .pool = "0,0,1,1",
        .dec_units = 256,
        .embed = 256,
        .coverage = 256,
        .kernel = 121,
        .gate = 1,
        .gamma = 0.1,
        .batch_size = 8,
        .maxlen = 200,
        .seed = 1234,
        .stage = "both",
        .init = NULL,
        .optimizer = "adadelta",
        .lr = 0.0,
        .rho = 0.95,
        .eps = 1e-8,
        .clip = 1000.0,
        .patience = 15,
        .eps_decays = 1,
        .eps_decays2 = 2,
        .aug_rotate = 8.0,
        .aug_shear = 0.15,
        .aug_aspect = 0.2,
        .aug_jitter = 0.003,
        .max_epochs = 5000,
        .max_steps = 0,
        .max_minutes = 0,
        .variational = "adaptive-weight-noise",
        .model_cost = 0.1,
        .n_train = 0.0,
        .sigma_init = 1e-12,
        .sigma = 0.075,
        .prior_var = 0.01,
        .prior_b = 0.0707107,
        .criterion1 = "wer",
        .criterion2 = "mix",
        .mix_wer = 0.6,
        .valid_every = 0,
        .valid_beam = 10,
        .valid_maxlen = 300,
        .valid_limit = 0,
        .checkpoint_minutes = 10.0,
        .log_every = 10,
        .progress_every = 100,
        .threads = 0,
    };
    if (!preset || !strcmp(preset, "tap")) return 0;
    if (strcmp(preset, "small")) return -1;
    // Measured on a 2-core machine: see README "Training: `tap train`".
    o->preset = "small";
    o->enc_layers = 4;
    o->enc_units = "64,64,64,64";
    o->dec_units = 96;
    o->embed = 64;
    o->coverage = 32;
    o->kernel = 61;
    o->valid_beam = 1;
    // Zeiler's Adadelta epsilon: TAP's 1e-8 makes the first thousands of updates tiny, which a
    // CPU budget cannot afford (mean loss after 2000 updates: 34.7 against 44.8 with 1e-8).
    o->eps = 1e-6;
    o->patience = 8;
    // With TAP's 0.1 the small decoder first learns a language model and ignores the ink (valid
    // WER 83.8% after epoch 1, 92.7% after epoch 2, rising); guiding attention with weight 1
    // makes it read the ink from the start (85.1%, then 69.7%, valid loss falling).
    o->gamma = 1.0;
    // ls2 = ln(sigma^2)/2048 keeps TAP's epsilon: at 1e-6 one step moves ln(sigma^2) by ~9.
    o->eps_ls2 = 1e-8;
    return 0;
}

const char *train_presets_help(void) {
    return "presets: tap = TAP v2 (4 bi-GRU layers of 250, pool 0,0,1,1, D 256, E 256, Q 256, "
           "K 121, beam 10);\n         small = 4 layers of 64, D 96, E 64, Q 32, K 61, greedy validation, "
           "Adadelta\n         eps 1e-6 (ls2 1e-8), patience 8, gamma 1.\n--preset sets the defaults "
           "of the options below it; other flags and "
           "--config win.\nWith --resume the stored configuration of OUT_DIR/last.h5 is the base.";
}

int train_options_table(TrainOptions *o, CliOption *out) {
    const CliOption t[] = {
        {"preset", CLI_STRING, &o->preset, "model preset: tap or small (see above)"},
        {"enc-layers", CLI_INT, &o->enc_layers, "encoder bi-GRU layers"},
        {"enc-units", CLI_STRING, &o->enc_units, "units per direction, one per layer"},
        {"pool", CLI_STRING, &o->pool, "1 = halve the time axis after the layer, one per layer"},
        {"dec-units", CLI_INT, &o->dec_units, "decoder GRU units (D)"},
        {"embed", CLI_INT, &o->embed, "target embedding (E, even)"},
        {"coverage", CLI_INT, &o->coverage, "coverage filters (Q)"},
        {"kernel", CLI_INT, &o->kernel, "coverage kernel (K, odd)"},
        {"gate", CLI_FLAG, &o->gate, "TAP v2 'when to attend' gate"},
        {"gamma", CLI_DOUBLE, &o->gamma, "attention-guidance loss weight"},
        {"batch-size", CLI_INT, &o->batch_size, "expressions per batch"},
        {"augment", CLI_FLAG, &o->augment,
         "augment the training ink: rotate, slant, stretch and jitter each expression anew at "
         "every update"},
        {"aug-rotate", CLI_DOUBLE, &o->aug_rotate, "--augment: rotation up to this many degrees"},
        {"aug-shear", CLI_DOUBLE, &o->aug_shear, "--augment: slant x += k*y, |k| up to this"},
        {"aug-aspect", CLI_DOUBLE, &o->aug_aspect,
         "--augment: height stretched or squeezed by a factor up to 1 + this"},
        {"aug-jitter", CLI_DOUBLE, &o->aug_jitter,
         "--augment: per-point noise, std in units of the normalised x spread"},
        {"maxlen", CLI_INT, &o->maxlen,
         "drop training labels of this many tokens or more (0: no limit, keep every label)"},
        {"seed", CLI_INT, &o->seed, "weight initialisation, data order and noise seed"},
        {"stage", CLI_STRING, &o->stage, "1 (Adadelta), 2 (variational) or both"},
        {"init", CLI_STRING, &o->init,
         "start from this checkpoint's /params (needed by --stage 2)"},
        {"scratch", CLI_FLAG, &o->scratch,
         "--stage 2 from the random initialisation of --seed instead of --init (Graves' "
         "protocol: every method trained from scratch)"},
        {"optimizer", CLI_STRING, &o->optimizer,
         "adadelta (TAP), sgd (momentum 0.9) or adam; patience divides Adadelta's eps or the "
         "others' learning rate by 10"},
        {"lr", CLI_DOUBLE, &o->lr, "sgd and adam learning rate (0: sgd 1e-4, adam 2e-4)"},
        {"rho", CLI_DOUBLE, &o->rho, "Adadelta decay"},
        {"eps", CLI_DOUBLE, &o->eps, "Adadelta epsilon (TAP's 'lrate')"},
        {"eps-ls2", CLI_DOUBLE, &o->eps_ls2,
         "adaptive-weight-noise: Adadelta epsilon of ls2 = ln(sigma^2)/2048 (0: --eps; decays "
         "with it)"},
        {"clip", CLI_DOUBLE, &o->clip, "global gradient-norm clip (<= 0: off)"},
        {"patience", CLI_INT, &o->patience,
         "validations without improvement before eps decay/stop"},
        {"eps-decays", CLI_INT, &o->eps_decays,
         "divide eps by 10 this many times (patience restarts) before stage 1 stops"},
        {"eps-decays2", CLI_INT, &o->eps_decays2, "the same for stage 2"},
        {"max-epochs", CLI_INT, &o->max_epochs, "stop after this many epochs"},
        {"max-steps", CLI_INT, &o->max_steps, "stop after this many updates (0: no limit)"},
        {"max-minutes", CLI_DOUBLE, &o->max_minutes,
         "stop after this much training time, counted across resumes (0: no limit)"},
        {"variational", CLI_STRING, &o->variational,
         "stage-2 method: ml, l1, l2, adaptive-l1, adaptive-l2, adaptive-mean-l1, "
         "adaptive-mean-l2, weight-noise, adaptive-prior-weight-noise, adaptive-weight-noise"},
        {"model-cost", CLI_DOUBLE, &o->model_cost, "stage-2 model-cost coefficient c"},
        {"n-train", CLI_DOUBLE, &o->n_train,
         "stage-2 N (0: twice the training expressions, as TAP)"},
        {"sigma-init", CLI_DOUBLE, &o->sigma_init, "adaptive-weight-noise initial sigma"},
        {"sigma", CLI_DOUBLE, &o->sigma, "fixed posterior sigma (weight-noise variants)"},
        {"prior-var", CLI_DOUBLE, &o->prior_var, "fixed Gauss prior variance (l2 variants)"},
        {"prior-b", CLI_DOUBLE, &o->prior_b, "fixed Laplace prior scale (l1 variants)"},
        {"per-sequence", CLI_FLAG, &o->per_sequence,
         "stage 2 as Graves: a noise draw and a backward pass per sequence, curvature from "
         "squared per-sequence gradients (TAP: one draw and the squared batch gradient)"},
        {"criterion1", CLI_STRING, &o->criterion1,
         "stage-1 best-model criterion: wer, exprate, mix, loss"},
        {"criterion2", CLI_STRING, &o->criterion2,
         "stage-2 criterion (mix = w*WER + (1-w)*(100-ExpRate))"},
        {"mix-wer", CLI_DOUBLE, &o->mix_wer, "w, the WER weight of the mix criterion"},
        {"valid-every", CLI_INT, &o->valid_every, "validate every N updates (0: every epoch)"},
        {"valid-beam", CLI_INT, &o->valid_beam, "validation beam width (1: greedy)"},
        {"valid-maxlen", CLI_INT, &o->valid_maxlen, "validation decoding steps at most"},
        {"valid-limit", CLI_INT, &o->valid_limit, "validate on the first N expressions (0: all)"},
        {"keep-valid", CLI_INT, &o->keep_valid,
         "keep the weights of the last N validations in OUT_DIR/valid/ (for tap average)"},
        {"checkpoint-minutes", CLI_DOUBLE, &o->checkpoint_minutes,
         "write last.h5 at least this often (and at every validation)"},
        {"log-every", CLI_INT, &o->log_every, "train.tsv gets the mean loss of every N updates"},
        {"progress-every", CLI_INT, &o->progress_every,
         "progress line every N updates when stderr is not a terminal"},
        {"threads", CLI_INT, &o->threads,
         "data-parallel replicas per update and validation threads (0: all cores)"},
        {"resume", CLI_FLAG, &o->resume, "continue OUT_DIR/last.h5 exactly where it stopped"},
        {"debug-nan-step", CLI_INT, &o->debug_nan_step,
         "testing: poison the input of this update with a NaN (0: off)"},
        {"debug-save-delay-ms", CLI_INT, &o->debug_save_delay_ms,
         "testing: pause inside every last.h5 write"},
    };
    int n = (int)(sizeof t / sizeof t[0]);
    TAP_ASSERT(n <= TRAIN_MAX_OPTIONS);
    memcpy(out, t, sizeof t);
    return n;
}

// "250, 250,250" -> values; the count, or -1 when malformed.
static int parse_list(const char *s, int *v, int cap) {
    int n = 0;
    if (!s) return -1;
    while (*s) {
        while (isspace((unsigned char)*s)) s++;
        char *end;
        long x = strtol(s, &end, 10);
        if (end == s || n == cap || x < 0 || x > 100000) return -1;
        v[n++] = (int)x;
        s = end;
        while (isspace((unsigned char)*s)) s++;
        if (*s == ',')
            s++;
        else if (*s)
            return -1;
    }
    return n;
}

static int parse_criterion(const char *s, TrainCriterion *c) {
    if (!s) return -1;
    if (!strcmp(s, "wer"))
        *c = CRIT_WER;
    else if (!strcmp(s, "exprate"))
        *c = CRIT_EXPRATE;
    else if (!strcmp(s, "mix"))
        *c = CRIT_MIX;
    else if (!strcmp(s, "loss"))
        *c = CRIT_LOSS;
    else
        return -1;
    return 0;
}

const char *train_criterion_name(TrainCriterion c) {
    static const char *names[] = {"wer", "exprate", "mix", "loss"};
    return names[c];
}

double train_score(TrainCriterion c, double mix_wer, double wer, double exprate, double loss) {
    switch (c) {
    case CRIT_WER: return wer;
    case CRIT_EXPRATE: return 100.0 - exprate;
    case CRIT_MIX: return mix_wer * wer + (1.0 - mix_wer) * (100.0 - exprate);
    case CRIT_LOSS: return loss;
    }
    return wer;
}

#define BAD(...) (snprintf(msg, len, __VA_ARGS__), -1)

int train_options_resolve(const TrainOptions *o, TrainPlan *p, char *msg, size_t len) {
    memset(p, 0, sizeof *p);
    TapConfig *c = &p->model;
    if (o->enc_layers < 1 || o->enc_layers > TAP_MAX_LAYERS)
        return BAD("--enc-layers must be 1..%d", TAP_MAX_LAYERS);
    int units[TAP_MAX_LAYERS + 1], pool[TAP_MAX_LAYERS + 1];
    int nu = parse_list(o->enc_units, units, TAP_MAX_LAYERS + 1);
    int np = parse_list(o->pool, pool, TAP_MAX_LAYERS + 1);
    if (nu != o->enc_layers)
        return BAD("--enc-units '%s' must list %d numbers (one per layer)",
                   o->enc_units ? o->enc_units : "", o->enc_layers);
    if (np != o->enc_layers)
        return BAD("--pool '%s' must list %d values 0 or 1", o->pool ? o->pool : "", o->enc_layers);
    *c = (TapConfig){.F = 9,
                     .n_layers = o->enc_layers,
                     .D = o->dec_units,
                     .E = o->embed,
                     .V = 2,
                     .K = o->kernel,
                     .Q = o->coverage,
                     .gate = o->gate,
                     .gamma = (float)o->gamma};
    for (int i = 0; i < o->enc_layers; i++) c->H[i] = units[i], c->pool[i] = pool[i];
    TapError err;
    if (config_check(c, &err)) return BAD("%s", err.msg);
    if (!o->stage) return BAD("--stage must be 1, 2 or both");
    if (!strcmp(o->stage, "1"))
        p->first_stage = p->last_stage = 1;
    else if (!strcmp(o->stage, "2"))
        p->first_stage = p->last_stage = 2;
    else if (!strcmp(o->stage, "both"))
        p->first_stage = 1, p->last_stage = 2;
    else
        return BAD("--stage must be 1, 2 or both, got '%s'", o->stage);
    const int have_init = o->init && *o->init;
    if (o->scratch && (p->first_stage != 2 || have_init))
        return BAD("--scratch is for --stage 2 without --init");
    if (p->first_stage == 2 && !have_init && !o->scratch && !o->resume)
        return BAD("--stage 2 starts from a trained model: give --init CHECKPOINT (or --scratch)");
    if (parse_criterion(o->criterion1, &p->crit[0]))
        return BAD("--criterion1 must be wer, exprate, mix or loss");
    if (parse_criterion(o->criterion2, &p->crit[1]))
        return BAD("--criterion2 must be wer, exprate, mix or loss");
    int kind = variational_kind_parse(o->variational ? o->variational : "");
    if (kind < 0)
        return BAD("unknown --variational '%s' (see --help)", o->variational ? o->variational : "");
    p->kind2 = (VarKind)kind;
    if (o->batch_size < 1) return BAD("--batch-size must be >= 1");
    if (o->maxlen < 0) return BAD("--maxlen must be >= 0 (0: no limit)");
    if (!(o->rho > 0.0 && o->rho < 1.0)) return BAD("--rho must be in (0, 1)");
    if (!(o->eps > 0.0)) return BAD("--eps must be > 0");
    if (optimizer_kind_parse(o->optimizer ? o->optimizer : "") < 0)
        return BAD("unknown --optimizer '%s' (adadelta, sgd or adam)",
                   o->optimizer ? o->optimizer : "");
    if (!(o->lr >= 0.0)) return BAD("--lr must be >= 0 (0: the optimizer's default)");
    if (!(o->eps_ls2 >= 0.0)) return BAD("--eps-ls2 must be >= 0 (0: --eps)");
    if (o->patience < 0 || o->eps_decays < 0 || o->eps_decays2 < 0)
        return BAD("--patience, --eps-decays and --eps-decays2 must be >= 0");
    if (!(o->aug_rotate >= 0 && o->aug_rotate <= 90) || !(o->aug_shear >= 0 && o->aug_shear <= 2) ||
        !(o->aug_aspect >= 0 && o->aug_aspect <= 2) || !(o->aug_jitter >= 0 && o->aug_jitter <= 1))
        return BAD("--aug-rotate must be in [0, 90] degrees, --aug-shear and --aug-aspect in "
                   "[0, 2], --aug-jitter in [0, 1]");
    if (o->max_epochs < 1 || o->max_steps < 0 || !(o->max_minutes >= 0))
        return BAD("--max-epochs must be >= 1, --max-steps and --max-minutes >= 0");
    if (!(o->model_cost >= 0.0) || !(o->n_train >= 0.0))
        return BAD("--model-cost and --n-train must be >= 0");
    if (!(o->sigma_init > 0.0) || !(o->sigma > 0.0) || !(o->prior_var > 0.0) || !(o->prior_b > 0.0))
        return BAD("--sigma-init, --sigma, --prior-var and --prior-b must be > 0");
    if (!(o->mix_wer >= 0.0 && o->mix_wer <= 1.0)) return BAD("--mix-wer must be in [0, 1]");
    if (o->valid_every < 0 || o->valid_limit < 0 || o->keep_valid < 0 || o->keep_valid > 1000)
        return BAD("--valid-every and --valid-limit must be >= 0, --keep-valid 0..1000");
    if (o->valid_beam < 1 || o->valid_beam > 1000) return BAD("--valid-beam must be 1..1000");
    if (o->valid_maxlen < 1) return BAD("--valid-maxlen must be >= 1");
    if (!(o->checkpoint_minutes > 0.0)) return BAD("--checkpoint-minutes must be > 0");
    if (o->log_every < 1 || o->progress_every < 1)
        return BAD("--log-every and --progress-every must be >= 1");
    if (o->threads < 0 || o->threads > 256) return BAD("--threads must be 0..256");
    if (o->debug_nan_step < 0 || o->debug_save_delay_ms < 0)
        return BAD("debug options must be >= 0");
    return 0;
}
