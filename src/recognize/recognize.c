// Inputs, model loading, threaded beam decoding in input order, attention side files and
// references for `tap decode` and `tap render` (see recognize.h).
#include "recognize.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "beam.h"
#include "beam_pool.h"
#include "checkpoint.h"
#include "clock.h"
#include "feature.h"
#include "h5util.h"
#include "inkml.h"
#include "latex.h"
#include "mathml.h"
#include "outfile.h"
#include "walk.h"

// ---------------------------------------------------------------------------- inputs

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static char *uid_of_path(const char *path) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (ends_with(b, ".inkml")) n -= 6;
    char *u = malloc(n + 1);
    if (u) memcpy(u, b, n), u[n] = '\0';
    return u;
}

static int push_item(RecInputs *in, int *cap, const char *uid, const char *path, int ds,
                     int index) {
    if (in->n == *cap) {
        int c = *cap ? 2 * *cap : 256;
        RecItem *v = realloc(in->items, (size_t)c * sizeof *v);
        if (!v) return -1;
        in->items = v;
        *cap = c;
    }
    RecItem *it = &in->items[in->n];
    it->uid = uid ? strdup(uid) : uid_of_path(path);
    it->path = strdup(path);
    it->ds = ds;
    it->index = index;
    if (!it->uid || !it->path) {
        free(it->uid);
        free(it->path);
        return -1;
    }
    in->n++;
    return 0;
}

int rec_inputs_collect(RecInputs *in, char *const *paths, int n_paths, TapError *err) {
    memset(in, 0, sizeof *in);
    int cap = 0, rc = TAP_OK;
    for (int p = 0; p < n_paths && rc == TAP_OK; p++) {
        struct stat st;
        if (stat(paths[p], &st) != 0) {
            // A missing file is one unreadable input: reported and skipped when it is loaded.
            if (push_item(in, &cap, NULL, paths[p], -1, 0))
                rc = tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
        } else if (S_ISDIR(st.st_mode)) {
            WalkList files = {0};
            rc = walk_inkml(paths[p], &files, err);
            for (size_t i = 0; i < files.n && rc == TAP_OK; i++)
                if (push_item(in, &cap, NULL, files.path[i], -1, 0))
                    rc = tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
            walk_list_free(&files);
        } else if (h5u_looks_hdf5(paths[p])) {
            Dataset *v = realloc(in->ds, (size_t)(in->n_ds + 1) * sizeof *v);
            if (!v) {
                rc = tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
                break;
            }
            in->ds = v;
            if ((rc = dataset_load(paths[p], &in->ds[in->n_ds], err)) != TAP_OK) break;
            int k = in->n_ds++;
            for (int i = 0; i < in->ds[k].n && rc == TAP_OK; i++)
                if (push_item(in, &cap, in->ds[k].uids[i], paths[p], k, i))
                    rc = tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
        } else if (push_item(in, &cap, NULL, paths[p], -1, 0)) {
            rc = tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
        }
    }
    if (rc != TAP_OK) rec_inputs_free(in);
    return rc;
}

void rec_inputs_free(RecInputs *in) {
    for (int i = 0; i < in->n; i++) {
        free(in->items[i].uid);
        free(in->items[i].path);
    }
    free(in->items);
    for (int k = 0; k < in->n_ds; k++) dataset_free(&in->ds[k]);
    free(in->ds);
    memset(in, 0, sizeof *in);
}

int rec_ink_load(const RecInputs *in, int i, RecInk *ink, TapError *err) {
    memset(ink, 0, sizeof *ink);
    ink->n_ref = -1;
    const RecItem *it = &in->items[i];
    const char *bad_uid = tsv_uid_problem(it->uid); // as tap prep: it would break the TSV
    if (bad_uid)
        return tap_error_set(err, TAP_ERR_ARG, "%s: unusable uid: %s (rename the file)", it->path,
                             bad_uid);
    if (it->ds >= 0) {
        const Dataset *ds = &in->ds[it->ds];
        int k = it->index, N = dataset_len_x(ds, k), L = dataset_len_y(ds, k);
        int64_t off = ds->feature_offsets[k], toff = ds->token_offsets[k];
        ink->n_rows = N;
        ink->n_strokes = ds->n_strokes[k];
        ink->n_ref = L;
        ink->f = malloc((size_t)N * TAP_FEATURE_DIM * sizeof *ink->f);
        ink->stroke = malloc((size_t)N * sizeof *ink->stroke);
        ink->ref = malloc((size_t)(L + 1) * sizeof *ink->ref);
        if (!ink->f || !ink->stroke || !ink->ref) {
            rec_ink_free(ink);
            return tap_error_set(err, TAP_ERR_NOMEM, "%s: %s: out of memory", it->path, it->uid);
        }
        memcpy(ink->f, ds->features + (size_t)off * TAP_FEATURE_DIM,
               (size_t)N * TAP_FEATURE_DIM * sizeof *ink->f);
        for (int j = 0; j < N; j++) ink->stroke[j] = ds->point_stroke[off + j];
        memcpy(ink->ref, ds->tokens + toff, (size_t)L * sizeof *ink->ref);
        if (N < 1) {
            rec_ink_free(ink);
            return tap_error_set(err, TAP_ERR_FORMAT, "%s: %s: no points", it->path, it->uid);
        }
        return TAP_OK;
    }
    InkmlDoc doc;
    int rc = inkml_load(it->path, &doc, err); // its messages name the file
    if (rc != TAP_OK) return rc;
    Features feat;
    rc = feature_compute(&doc, &feat, err);
    if (rc != TAP_OK) {
        tap_error_prefix(err, "%s", it->path);
        inkml_free(&doc);
        return rc;
    }
    ink->n_rows = feat.n_rows;
    ink->f = feat.f;
    ink->stroke = feat.stroke;
    ink->n_strokes = doc.n_traces;
    // The reference as tap prep labels it: the LaTeX truth, or the MathML one when the LaTeX is
    // malformed. A file without a usable truth simply has no reference.
    TokenList truth = {0};
    TruthSource src;
    char note[256];
    if (mathml_choose_truth(&doc, NULL, &truth, &src, note, sizeof note, NULL) == TAP_OK) {
        size_t len = token_list_join(&truth, NULL, 0) + 1;
        if ((ink->truth = malloc(len))) token_list_join(&truth, ink->truth, len);
        token_list_free(&truth);
        if (!ink->truth) {
            inkml_free(&doc);
            rec_ink_free(ink);
            return tap_error_set(err, TAP_ERR_NOMEM, "%s: out of memory", it->path);
        }
    }
    inkml_free(&doc);
    return TAP_OK;
}

void rec_ink_free(RecInk *ink) {
    free(ink->f);
    free(ink->stroke);
    free(ink->truth);
    free(ink->ref);
    memset(ink, 0, sizeof *ink);
    ink->n_ref = -1;
}

// ---------------------------------------------------------------------------- model

int rec_model_load(RecModel *m, const char *path, TapError *err) {
    memset(m, 0, sizeof *m);
    int rc = checkpoint_read_config(path, &m->cfg, err);
    if (rc == TAP_OK && (rc = config_check(&m->cfg, err)) != TAP_OK)
        tap_error_prefix(err, "%s", path);
    if (rc == TAP_OK) rc = params_layout(&m->cfg, &m->table, err);
    if (rc == TAP_OK && !(m->w = malloc(m->table.n * sizeof *m->w)))
        rc = tap_error_set(err, TAP_ERR_NOMEM, "%s: out of memory for %zu weights", path,
                           m->table.n);
    if (rc == TAP_OK) {
        CheckpointRole role = {"params", m->w, CHECKPOINT_F32};
        rc = checkpoint_load(path, &m->cfg, &m->table, &role, 1, NULL, err);
    }
    if (rc != TAP_OK) rec_model_free(m);
    return rc;
}

void rec_model_free(RecModel *m) {
    free(m->w);
    if (m->table.spec) params_free(&m->table);
    memset(m, 0, sizeof *m);
}

int rec_vocab_load(Vocab *v, const char *path, const TapConfig *cfg, TapError *err) {
    int rc = vocab_load(path, v, err);
    if (rc != TAP_OK) return rc;
    if (v->n != cfg->V) {
        int n = v->n;
        vocab_free(v);
        return tap_error_set(err, TAP_ERR_ARG,
                             "%s has %d tokens but the model's vocabulary has %d (wrong --dict?)",
                             path, n, cfg->V);
    }
    return TAP_OK;
}

int rec_model_vocab(Vocab *v, const char *model, const char *dict, const TapConfig *cfg,
                    TapError *err) {
    memset(v, 0, sizeof *v);
    if (dict) return rec_vocab_load(v, dict, cfg, err);
    char **tokens;
    int n, rc = checkpoint_read_vocab(model, &tokens, &n, err);
    if (rc != TAP_OK) return rc;
    if (n == 0) return rec_vocab_load(v, REC_DEFAULT_DICT, cfg, err); // an older checkpoint
    if (n != cfg->V)
        rc = tap_error_set(err, TAP_ERR_FORMAT,
                           "%s: /vocab has %d tokens but the model's vocabulary has %d", model, n,
                           cfg->V);
    else
        rc = vocab_from_tokens(v, (const char *const *)tokens, n, model, err);
    checkpoint_vocab_free(tokens, n);
    return rc;
}

// ---------------------------------------------------------------------------- decoding

typedef struct {
    const RecInputs *in;
    const RecOptions *opt;
    RecResult *res;
} Shared;

static void decode_one(BeamDecoder *d, const Shared *s, int i, RecResult *r) {
    TapError err;
    RecInk ink;
    double t0 = tap_now_seconds();
    r->status = rec_ink_load(s->in, i, &ink, &err);
    if (r->status != TAP_OK) {
        snprintf(r->msg, sizeof r->msg, "%s", err.msg);
        return;
    }
    BeamResult br;
    r->status = beam_decode(d, ink.f, ink.n_rows, &br, &err);
    if (r->status != TAP_OK) {
        tap_error_prefix(&err, "%s", s->in->items[i].path);
        snprintf(r->msg, sizeof r->msg, "%s", err.msg);
        rec_ink_free(&ink);
        return;
    }
    r->n = br.n;
    r->n_att = br.n + br.finished;
    r->S = br.S;
    r->cost = br.cost;
    r->norm_cost = br.norm_cost;
    r->finished = br.finished;
    r->n_rows = ink.n_rows;
    r->tokens = malloc((size_t)(br.n + 1) * sizeof *r->tokens);
    r->alphas = malloc(((size_t)r->n_att * br.S + 1) * sizeof *r->alphas);
    if (!r->tokens || !r->alphas) {
        r->status = TAP_ERR_NOMEM;
        snprintf(r->msg, sizeof r->msg, "%s: out of memory", s->in->items[i].path);
    } else {
        memcpy(r->tokens, br.tokens, (size_t)br.n * sizeof *r->tokens);
        memcpy(r->alphas, br.alphas, (size_t)r->n_att * br.S * sizeof *r->alphas);
    }
    if (s->opt->keep_ink && r->status == TAP_OK)
        r->ink = ink;
    else
        rec_ink_free(&ink);
    r->seconds = tap_now_seconds() - t0;
}

static void decode_item(void *ctx, BeamDecoder *d, int i) {
    Shared *s = ctx;
    decode_one(d, s, i, &s->res[i]);
}

void rec_result_free(RecResult *r) {
    free(r->tokens);
    free(r->alphas);
    rec_ink_free(&r->ink);
    memset(r, 0, sizeof *r);
}

int rec_decode_all(const RecModel *m, const RecInputs *in, const RecOptions *opt, RecEmit emit,
                   void *ctx, TapError *err) {
    if (opt->threads < 1 || opt->beam < 1 || opt->max_len < 1)
        return tap_error_set(err, TAP_ERR_ARG, "threads, beam and max-len must be positive");
    if (opt->n_extra < 0 || opt->n_extra > REC_MAX_EXTRA)
        return tap_error_set(err, TAP_ERR_ARG, "an ensemble has at most %d models",
                             REC_MAX_EXTRA + 1);
    // Threads, not BLAS, give the parallelism: small per-step GEMMs are fastest single-threaded.
    openblas_set_num_threads(1);
    BeamSpec spec = {.n_models = 1 + opt->n_extra, .beam = opt->beam, .max_len = opt->max_len};
    spec.cfgs[0] = &m->cfg, spec.tables[0] = &m->table, spec.ws[0] = m->w;
    for (int k = 0; k < opt->n_extra; k++) {
        spec.cfgs[k + 1] = &opt->extra[k].cfg;
        spec.tables[k + 1] = &opt->extra[k].table;
        spec.ws[k + 1] = opt->extra[k].w;
    }
    Shared s = {.in = in, .opt = opt};
    if (!(s.res = calloc((size_t)in->n + 1, sizeof *s.res)))
        return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    for (int i = 0; i < in->n; i++) s.res[i].ink.n_ref = -1;
    BeamPool *pool;
    int rc = beam_pool_start(&pool, &spec, opt->threads, in->n, decode_item, &s, err);
    if (rc != TAP_OK) {
        free(s.res);
        return rc;
    }
    // Results go out in input order while later inputs are decoded.
    for (int i = 0; i < in->n && rc == TAP_OK && beam_pool_wait(pool, i); i++) {
        rc = emit(ctx, i, &s.res[i]);
        rec_result_free(&s.res[i]);
    }
    beam_pool_stop(pool);
    int pool_rc = beam_pool_finish(pool, rc == TAP_OK ? err : &(TapError){0});
    if (rc == TAP_OK) rc = pool_rc;
    for (int i = 0; i < in->n; i++) rec_result_free(&s.res[i]);
    free(s.res);
    return rc;
}

// ---------------------------------------------------------------------------- command set-up

// --ensemble A.h5,B.h5: more models with the first one's vocabulary.
static int load_ensemble(RecSetup *s, const char *model, const char *list, TapError *err) {
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0 || len >= 4096)
            return tap_error_set(err, TAP_ERR_ARG, "--ensemble: an empty or overlong path in '%s'",
                                 list);
        if (s->n_extra == REC_MAX_EXTRA)
            return tap_error_set(err, TAP_ERR_ARG, "--ensemble: at most %d more models",
                                 REC_MAX_EXTRA);
        char path[4096];
        memcpy(path, p, len);
        path[len] = '\0';
        int rc = rec_model_load(&s->extra[s->n_extra], path, err);
        if (rc != TAP_OK) return rc;
        s->n_extra++;
        const TapConfig *c = &s->extra[s->n_extra - 1].cfg;
        if (c->V != s->m.cfg.V || c->F != s->m.cfg.F)
            return tap_error_set(err, TAP_ERR_ARG,
                                 "--ensemble: %s has %d tokens and %d features, %s has %d and %d: "
                                 "an ensemble needs one vocabulary",
                                 path, c->V, c->F, model, s->m.cfg.V, s->m.cfg.F);
        // An unreadable /vocab counts as another one.
        if (checkpoint_vocab_matches(path, (const char *const *)s->v.tokens, s->v.n, NULL) != 1)
            return tap_error_set(err, TAP_ERR_ARG,
                                 "--ensemble: %s was trained with another vocabulary than %s "
                                 "(its /vocab differs): an ensemble needs one vocabulary",
                                 path, model);
        p += len + (comma ? 1 : 0);
        if (comma && !*p)
            return tap_error_set(err, TAP_ERR_ARG, "--ensemble: '%s' ends with a comma", list);
    }
    return TAP_OK;
}

int rec_setup_open(RecSetup *s, const char *model, const RecSettings *o, char *const *inputs,
                   int n_inputs, TapError *err) {
    memset(s, 0, sizeof *s);
    int rc = TAP_OK;
    if (model && ((rc = rec_model_load(&s->m, model, err)) != TAP_OK ||
                  (rc = rec_model_vocab(&s->v, model, o->dict, &s->m.cfg, err)) != TAP_OK)) {
        rec_setup_close(s);
        return rc;
    }
    if (model && o->ensemble && (rc = load_ensemble(s, model, o->ensemble, err)) != TAP_OK) {
        rec_setup_close(s);
        return rc;
    }
    if ((rc = rec_inputs_collect(&s->in, inputs, n_inputs, err)) != TAP_OK) {
        rec_setup_close(s);
        return rc;
    }
    if (s->in.n == 0) {
        rec_setup_close(s);
        return tap_error_set(err, TAP_ERR_ARG, "no InkML files or expressions in the inputs");
    }
    s->opt = (RecOptions){.beam = o->beam,
                          .max_len = o->max_len,
                          .threads = rec_threads(o->threads),
                          .extra = s->extra,
                          .n_extra = s->n_extra};
    s->pool = model ? rec_pool_factor(&s->m.cfg) : 1;
    return TAP_OK;
}

int rec_output_check(const RecSetup *s, const char *model, const RecSettings *o,
                     const char *output, TapError *err) {
    const char *files[] = {model, model ? o->dict : NULL};
    int rc = outfile_check(output, files, 2, err);
    for (const char *p = o->ensemble; rc == TAP_OK && model && p && *p;) {
        size_t len = strcspn(p, ",");
        char *one = strndup(p, len);
        if (!one) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
        rc = outfile_check(output, (const char *const *)&one, 1, err);
        free(one);
        p += len + (p[len] == ',');
    }
    for (int i = 0; rc == TAP_OK && i < s->in.n; i++) {
        const char *path = s->in.items[i].path;
        if (i == 0 || strcmp(path, s->in.items[i - 1].path)) // a dataset's items share it
            rc = outfile_check(output, &path, 1, err);
    }
    return rc;
}

void rec_setup_close(RecSetup *s) {
    vocab_free(&s->v);
    rec_inputs_free(&s->in);
    rec_model_free(&s->m);
    for (int k = 0; k < s->n_extra; k++) rec_model_free(&s->extra[k]);
    memset(s, 0, sizeof *s);
}

// ---------------------------------------------------------------------------- attention

int rec_pool_factor(const TapConfig *cfg) {
    int f = 1;
    for (int l = 0; l < cfg->n_layers; l++) f *= cfg->pool[l] ? 2 : 1;
    return f;
}

void rec_row_attention(const float *alpha, int S, int pool, int n_rows, float *out) {
    for (int j = 0; j < n_rows; j++) {
        int s = j / pool;
        out[j] = s < S ? alpha[s] / (float)pool : 0.0f;
    }
}

void rec_stroke_tokens(const float *alphas, int n_att, int S, int pool, const int *stroke,
                       int n_rows, int n_strokes, float *scratch, int *stroke_token) {
    for (int k = 0; k < n_strokes; k++) scratch[k] = 0.0f, stroke_token[k] = -1;
    for (int t = 0; t < n_att; t++) {
        const float *a = alphas + (size_t)t * S;
        // Strokes are contiguous runs of rows: sum each run, compare with the best so far.
        for (int j = 0; j < n_rows;) {
            int k = stroke[j];
            double sum = 0.0;
            for (; j < n_rows && stroke[j] == k; j++) {
                int s = j / pool;
                if (s < S) sum += (double)a[s];
            }
            if (k >= 0 && k < n_strokes && sum > (double)scratch[k]) {
                scratch[k] = (float)sum;
                stroke_token[k] = t;
            }
        }
    }
}

char *rec_uid_path(const char *dir, const char *uid, const char *suffix) {
    size_t len = strlen(dir) + strlen(uid) + strlen(suffix) + 3;
    char *p = malloc(len);
    if (!p) return NULL;
    size_t d = (size_t)snprintf(p, len, "%s/", dir);
    for (const char *c = uid; *c; c++) {
        int safe = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                   (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || (*c == '.' && c != uid);
        p[d++] = safe ? *c : '_';
    }
    snprintf(p + d, len - d, "%s", suffix);
    return p;
}

int rec_attention_save(const char *dir, const char *uid, const RecResult *r, const Vocab *v,
                       int pool, TapError *err) {
    char *path = rec_uid_path(dir, uid, ".att");
    if (!path) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    OutFile o;
    int rc = outfile_open(&o, path, err);
    free(path);
    if (rc != TAP_OK) return rc;
    fprintf(o.f,
            "tap-attention 1\nuid %s\nrows %d annotations %d pool %d steps %d finished %d\ntokens",
            uid, r->n_rows, r->S, pool, r->n_att, r->finished);
    for (int t = 0; t < r->n_att; t++) {
        const char *tok = t < r->n ? vocab_token(v, r->tokens[t]) : vocab_token(v, 0);
        fprintf(o.f, " %s", tok ? tok : "?");
    }
    fputc('\n', o.f);
    for (int t = 0; t < r->n_att; t++) {
        const float *a = r->alphas + (size_t)t * r->S;
        // %.9g restores every float exactly, so pictures from the file equal pictures from
        // decoding.
        for (int s = 0; s < r->S; s++) fprintf(o.f, s ? " %.9g" : "%.9g", (double)a[s]);
        fputc('\n', o.f);
    }
    return outfile_commit(&o, err);
}

void rec_attention_free(RecAttention *a) {
    for (int t = 0; a->tokens && t < a->n_att; t++) free(a->tokens[t]);
    free(a->tokens);
    free(a->alphas);
    memset(a, 0, sizeof *a);
}

// The next line of text (without its '\n') as [*b, *e); 0 at the end of the text.
static int next_line(const char **p, const char *end, const char **b, const char **e) {
    if (*p >= end) return 0;
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    *b = *p;
    *e = nl ? nl : end;
    *p = nl ? nl + 1 : end;
    return 1;
}

// A whole decimal int of [b, e) after skipping spaces; advances *b. 0 when there is none or it
// does not fit an int.
static int scan_int(const char **b, const char *e, int *v) {
    while (*b < e && (**b == ' ' || **b == '\t' || **b == '\r')) (*b)++;
    const char *q = *b;
    if (q < e && (*q == '-' || *q == '+')) q++;
    if (q == e || *q < '0' || *q > '9') return 0;
    long long x = 0;
    int neg = **b == '-';
    for (; q < e && *q >= '0' && *q <= '9'; q++)
        if ((x = x * 10 + (*q - '0')) > 2147483648LL) return 0;
    if (q < e && *q != ' ' && *q != '\t' && *q != '\r') return 0;
    if (neg) x = -x;
    if (x > 2147483647LL || x < -2147483647LL - 1) return 0;
    *v = (int)x;
    *b = q;
    return 1;
}

// The word w (then a space or the line end) at *b after spaces; advances *b.
static int scan_word(const char **b, const char *e, const char *w) {
    while (*b < e && (**b == ' ' || **b == '\t')) (*b)++;
    size_t n = strlen(w);
    if ((size_t)(e - *b) < n || memcmp(*b, w, n)) return 0;
    if (*b + n < e && (*b)[n] != ' ' && (*b)[n] != '\t' && (*b)[n] != '\r') return 0;
    *b += n;
    return 1;
}

static int only_space(const char *b, const char *e) {
    for (; b < e; b++)
        if (*b != ' ' && *b != '\t' && *b != '\r' && *b != '\n') return 0;
    return 1;
}

int rec_attention_parse(const char *text, size_t len, const char *name, RecAttention *a,
                        TapError *err) {
    memset(a, 0, sizeof *a);
    const char *p = text, *end = text + len, *b, *e;
    int version = 0, v[5];
    static const char *const keys[5] = {"rows", "annotations", "pool", "steps", "finished"};
    if (memchr(text, '\0', len))
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: binary data (a NUL byte)", name);
    if (!next_line(&p, end, &b, &e) || !scan_word(&b, e, "tap-attention") ||
        !scan_int(&b, e, &version) || !only_space(b, e))
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: not a tap attention file", name);
    if (version != 1)
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: attention format version %d, not 1", name,
                             version);
    if (!next_line(&p, end, &b, &e) || !scan_word(&b, e, "uid") || only_space(b, e))
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: line 2 is not 'uid <uid>'", name);
    if (!next_line(&p, end, &b, &e))
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: no line 3 (rows ... finished ...)", name);
    for (int k = 0; k < 5; k++)
        if (!scan_word(&b, e, keys[k]) || !scan_int(&b, e, &v[k]))
            return tap_error_set(err, TAP_ERR_FORMAT,
                                 "%s: line 3: '%s N' missing or not an int (rows N annotations S "
                                 "pool P steps T finished 0|1)",
                                 name, keys[k]);
    if (!only_space(b, e))
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: line 3: extra text after finished", name);
    int rows = v[0], S = v[1], pool = v[2], steps = v[3], fin = v[4];
    // Each field within what a decoder can produce, checked before anything is allocated.
    const char *bad = NULL;
    if (rows < 1 || rows > INKML_MAX_POINTS)
        bad = "rows must be in 1..10000000";
    else if (pool < 1 || pool > (1 << TAP_MAX_LAYERS) || (pool & (pool - 1)))
        bad = "pool must be a power of two in 1..256";
    else if (S < 1 || S > (rows + pool) / pool)
        bad = "annotations must be in 1..(rows + pool) / pool";
    else if (steps < 0 || steps > BEAM_MAX_LEN + 1)
        bad = "steps must be in 0..100001";
    else if (fin != 0 && fin != 1)
        bad = "finished must be 0 or 1";
    else if (fin > steps)
        bad = "finished 1 needs at least one step (the <eol> row)";
    else if ((size_t)steps * (size_t)S > 100000000)
        bad = "steps x annotations over 10^8 weights";
    if (bad)
        return tap_error_set(err, TAP_ERR_FORMAT,
                             "%s: %s (rows %d annotations %d pool %d steps %d finished %d)", name,
                             bad, rows, S, pool, steps, fin);
    a->n_rows = rows, a->S = S, a->pool = pool, a->finished = fin;
    a->tokens = calloc((size_t)steps + 1, sizeof *a->tokens);
    a->alphas = malloc(((size_t)steps * S + 1) * sizeof *a->alphas);
    int rc = TAP_OK;
    if (!a->tokens || !a->alphas) {
        rec_attention_free(a);
        return tap_error_set(err, TAP_ERR_NOMEM, "%s: out of memory", name);
    }
    if (!next_line(&p, end, &b, &e) || !scan_word(&b, e, "tokens"))
        rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: line 4 is not 'tokens ...'", name);
    for (int t = 0; rc == TAP_OK && t < steps; t++) {
        while (b < e && (*b == ' ' || *b == '\t' || *b == '\r')) b++;
        const char *w = b;
        while (b < e && *b != ' ' && *b != '\t' && *b != '\r') b++;
        if (w == b)
            rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: %d tokens for %d steps", name, t, steps);
        else if (!(a->tokens[t] = strndup(w, (size_t)(b - w))))
            rc = tap_error_set(err, TAP_ERR_NOMEM, "%s: out of memory", name);
        else
            a->n_att = t + 1; // what rec_attention_free releases
    }
    if (rc == TAP_OK && !only_space(b, e))
        rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: more tokens than the %d steps", name, steps);
    for (int t = 0; rc == TAP_OK && t < steps; t++) {
        if (!next_line(&p, end, &b, &e)) {
            rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: %d weight rows for %d steps", name, t,
                               steps);
            break;
        }
        for (int s = 0; rc == TAP_OK && s < S; s++) {
            char num[64];
            while (b < e && (*b == ' ' || *b == '\t' || *b == '\r')) b++;
            const char *w = b;
            while (b < e && *b != ' ' && *b != '\t' && *b != '\r') b++;
            size_t n = (size_t)(b - w);
            char *stop = NULL;
            float x = 0.0f;
            if (n > 0 && n < sizeof num) {
                memcpy(num, w, n), num[n] = '\0';
                x = strtof(num, &stop);
            }
            if (n == 0)
                rc = tap_error_set(err, TAP_ERR_FORMAT,
                                   "%s: row %d has no weight %d (need %d numbers in [0, 1])", name,
                                   t + 1, s + 1, S);
            else if (n >= sizeof num || *stop || !(x >= 0.0f && x <= 1.0f))
                rc = tap_error_set(err, TAP_ERR_FORMAT,
                                   "%s: row %d: weight %d is not a number in [0, 1]", name, t + 1,
                                   s + 1);
            else
                a->alphas[(size_t)t * S + s] = x;
        }
        if (rc == TAP_OK && !only_space(b, e))
            rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: row %d has more than %d weights", name,
                               t + 1, S);
    }
    if (rc == TAP_OK && !only_space(p, end))
        rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: more weight rows than the %d steps", name,
                           steps);
    if (rc != TAP_OK) rec_attention_free(a);
    return rc;
}

int rec_attention_load(const char *path, RecAttention *a, TapError *err) {
    memset(a, 0, sizeof *a);
    FILE *f = fopen(path, "rb");
    if (!f) return tap_error_set(err, TAP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > ((off_t)1 << 32)) {
        fclose(f);
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: not a regular file of at most 4 GiB", path);
    }
    size_t len = (size_t)st.st_size;
    char *text = malloc(len + 1);
    size_t got = text ? fread(text, 1, len, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!text) return tap_error_set(err, TAP_ERR_NOMEM, "%s: out of memory", path);
    if (bad || got != len) {
        free(text);
        return tap_error_set(err, TAP_ERR_IO, "%s: read error", path);
    }
    int rc = rec_attention_parse(text, len, path, a, err);
    free(text);
    return rc;
}

// ---------------------------------------------------------------------------- references

typedef struct {
    const char *uid;
    int index;
} UidIndex;

static int by_uid_index(const void *a, const void *b) {
    return strcmp(((const UidIndex *)a)->uid, ((const UidIndex *)b)->uid);
}

int rec_refs_build(TsvTable *t, int n, char *const *uids, const int *n_tok,
                   const char *const *const *tokens, TapError *err) {
    memset(t, 0, sizeof *t);
    size_t bytes = 1, words = 1;
    for (int i = 0; i < n; i++) {
        bytes += strlen(uids[i]) + 1;
        for (int k = 0; k < n_tok[i]; k++) bytes += strlen(tokens[i][k]) + 1;
        words += (size_t)n_tok[i];
    }
    UidIndex *order = malloc(((size_t)n + 1) * sizeof *order);
    t->e = calloc((size_t)n + 1, sizeof *t->e);
    t->store = malloc(bytes);
    t->tok_store = malloc(words * sizeof *t->tok_store);
    if (!order || !t->e || !t->store || !t->tok_store) {
        free(order);
        tsv_free(t);
        return tap_error_set(err, TAP_ERR_NOMEM, "out of memory for references");
    }
    for (int i = 0; i < n; i++) order[i] = (UidIndex){uids[i], i};
    qsort(order, (size_t)n, sizeof *order, by_uid_index);
    char *s = t->store;
    size_t w = 0;
    for (int j = 0; j < n; j++) {
        int i = order[j].index;
        if (j > 0 && !strcmp(order[j].uid, order[j - 1].uid)) {
            int rc = tap_error_set(err, TAP_ERR_FORMAT, "uid '%s' appears more than once", uids[i]);
            free(order);
            tsv_free(t);
            return rc;
        }
        TsvEntry *e = &t->e[t->n++];
        e->uid = strcpy(s, uids[i]);
        s += strlen(s) + 1;
        e->n = n_tok[i];
        e->tok = t->tok_store + w;
        for (int k = 0; k < n_tok[i]; k++) {
            t->tok_store[w++] = strcpy(s, tokens[i][k]);
            s += strlen(s) + 1;
        }
    }
    free(order);
    return TAP_OK;
}

int rec_refs_load(const char *path, TsvTable *t, TapError *err) {
    if (!h5u_looks_hdf5(path)) return tsv_load(path, t, err);
    Dataset ds;
    int rc = dataset_load(path, &ds, err);
    if (rc != TAP_OK) return rc;
    int *n_tok = malloc(((size_t)ds.n + 1) * sizeof *n_tok);
    const char **words = malloc((ds.n_tokens + 1) * sizeof *words);
    const char *const **tok = malloc(((size_t)ds.n + 1) * sizeof *tok);
    if (!n_tok || !words || !tok) rc = tap_error_set(err, TAP_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; rc == TAP_OK && i < ds.n; i++) {
        n_tok[i] = dataset_len_y(&ds, i);
        tok[i] = words + ds.token_offsets[i];
        for (int64_t k = ds.token_offsets[i]; k < ds.token_offsets[i + 1]; k++)
            words[k] = ds.vocab[ds.tokens[k]]; // ids < V: checked by dataset_load
    }
    if (rc == TAP_OK && (rc = rec_refs_build(t, ds.n, ds.uids, n_tok, tok, err)) != TAP_OK)
        tap_error_prefix(err, "%s", path);
    free(n_tok);
    free(words);
    free(tok);
    dataset_free(&ds);
    return rc;
}

// ---------------------------------------------------------------------------- files

// Creates dir when it does not exist yet (one level, as mkdir).
int rec_mkdir(const char *dir, TapError *err) {
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return TAP_OK;
        return tap_error_set(err, TAP_ERR_IO, "%s exists and is not a directory", dir);
    }
    if (mkdir(dir, 0777) != 0)
        return tap_error_set(err, TAP_ERR_IO, "cannot create directory %s: %s", dir,
                             strerror(errno));
    return TAP_OK;
}

int rec_threads(int requested) {
    if (requested > 0) return requested;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n > 64 ? 64 : n) : 1;
}

char *rec_join(const char *const *tokens, int n) {
    size_t len = 1;
    for (int i = 0; i < n; i++) len += strlen(tokens[i]) + 1;
    char *s = malloc(len), *p = s;
    if (!s) return NULL;
    *p = '\0';
    for (int i = 0; i < n; i++) p += sprintf(p, "%s%s", i ? " " : "", tokens[i]);
    return s;
}
