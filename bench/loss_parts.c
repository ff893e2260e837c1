// The two parts of TAP's training cost for a checkpoint on a dataset, teacher-forced, one
// expression at a time: the label NLL and the attention-guidance term (the cross-entropy of
// the decoder's attention against the stroke alignment, before gamma). A large guidance term
// on data the model reads badly says its attention does not follow the strokes there.
//   loss_parts MODEL.h5 DATA.h5 > per_expression.tsv
// stdout: "uid<TAB>points<TAB>tokens<TAB>nll<TAB>guidance" per expression (nats); stderr: the
// means. Expressions without stroke alignments get guidance "nan".
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "dataset.h"
#include "model.h"
#include "recognize.h"
#include "tap.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: loss_parts MODEL.h5 DATA.h5\n");
        return 2;
    }
    TapError err = {0};
    RecModel rm;
    Dataset ds;
    if (rec_model_load(&rm, argv[1], &err) || dataset_load(argv[2], &ds, &err)) {
        fprintf(stderr, "loss_parts: %s\n", err.msg);
        return 1;
    }
    if (ds.V != rm.cfg.V) {
        fprintf(stderr, "loss_parts: the dataset has %d tokens, the model %d\n", ds.V, rm.cfg.V);
        return 1;
    }
    int max_T = 1, max_L = 1;
    for (int i = 0; i < ds.n; i++) {
        // a batch pads each expression with one more row and one more token (batch_fill)
        if (dataset_len_x(&ds, i) + 1 > max_T) max_T = dataset_len_x(&ds, i) + 1;
        if (dataset_len_y(&ds, i) + 1 > max_L) max_L = dataset_len_y(&ds, i) + 1;
    }
    TapConfig cfg = rm.cfg;
    cfg.gamma = 1.0; // cost − nll is then the guidance term itself
    cfg.threads = 1;
    TapModel m;
    Batch bt;
    if (model_init(&m, &cfg, max_T, max_L, 1, 1, &err) || batch_init(&bt, 1, max_T, max_L, &err)) {
        fprintf(stderr, "loss_parts: %s\n", err.msg);
        return 1;
    }
    memcpy(m.w, rm.w, rm.table.n * sizeof *m.w);
    double sum_nll = 0.0, sum_att = 0.0;
    int n = 0, n_att = 0;
    for (int i = 0; i < ds.n; i++) {
        batch_fill(&bt, &ds, &i, 1);
        int has_align = dataset_has_align(&ds, i);
        ModelBatch b = {bt.Tx, bt.Ty, bt.B, bt.x, bt.x_mask, bt.y, bt.y_mask,
                        has_align ? bt.a : NULL, has_align ? bt.a_mask : NULL};
        double cost, mean;
        if (model_loss(&m, &b, &cost, &mean, &err)) {
            fprintf(stderr, "loss_parts: %s: %s\n", ds.uids[i], err.msg);
            continue;
        }
        double nll = m.nll[0], att = has_align ? cost - nll : (double)NAN;
        printf("%s\t%d\t%d\t%.6f\t%.6f\n", ds.uids[i], dataset_len_x(&ds, i), dataset_len_y(&ds, i),
               nll, att);
        sum_nll += nll, n++;
        if (has_align) sum_att += att, n_att++;
    }
    fprintf(stderr, "loss_parts: %d expressions: mean label NLL %.4f nats; mean guidance term %.4f (%d with alignments)\n",
            n, n ? sum_nll / n : (double)NAN, n_att ? sum_att / n_att : (double)NAN, n_att);
    batch_free(&bt);
    model_free(&m);
    dataset_free(&ds);
    rec_model_free(&rm);
    return 0;
}
