// Hostile files and file systems (issue 12), end to end on the built `tap`: outputs that would
// lose a file (an input, a FIFO, a device), broken .att attention files, uids that would break
// the TSV files, long list lines and paths, a full disk (RLIMIT_FSIZE in a child, SIGXFSZ
// ignored, so every write past the limit fails with EFBIG as on a full file system) and a run
// killed before its first save. Each case checks one clear error line and the exit status.
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

#define TAP TAP_BINARY_DIR "/tap"
#define SRC TAP_SOURCE_DIR
#define MODEL SRC "/data/model/small.h5"
#define DICT SRC "/data/dictionary.txt"
#define INK SRC "/data/sample/test/18_em_0.inkml"

static char out_buf[1 << 16], err_buf[1 << 16];

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...) {
    char cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return tu_run(cmd, out_buf, sizeof out_buf, err_buf, sizeof err_buf);
}

// Runs cmd through sh with RLIMIT_FSIZE = bytes and SIGXFSZ ignored. stderr (and stdout, unless
// cmd redirects it) come back through a pipe, which the limit does not touch. Returns the exit
// status, or -signal when the command was killed by one (a crash).
static int run_limited(long bytes, const char *cmd) {
    int fd;
    pid_t pid = tu_fork_pipe(&fd);
    if (pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {(rlim_t)bytes, (rlim_t)bytes};
        setrlimit(RLIMIT_FSIZE, &rl);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int st = tu_fork_collect(pid, fd, err_buf, sizeof err_buf);
    return WIFSIGNALED(st) ? -WTERMSIG(st) : WEXITSTATUS(st);
}

// A directory of this test: tu_tmpdir's buffer is reused by tu_run, so keep a copy.
static const char *test_dir(void) {
    static char dir[256];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    return dir;
}

static int count(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static int lines_with(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle));) {
        n++;
        p = strchr(p, '\n');
        if (!p)
            break;
    }
    return n;
}

static int same_content(const char *a, const char *b) {
    size_t la, lb;
    char *x = tu_read_file(a, &la), *y = tu_read_file(b, &lb);
    int same = x && y && la == lb && !memcmp(x, y, la);
    free(x), free(y);
    return same;
}

static int is_fifo(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISFIFO(st.st_mode);
}

static int exists(const char *p) {
    struct stat st;
    return lstat(p, &st) == 0;
}

// The sample's training and test files as datasets in dir (for eval and train).
static void sample_datasets(const char *dir) {
    cr_assert_eq(
        run("cd %s && %s prep --quiet --threads 1 data/sample/train -o %s/train.h5", SRC, TAP, dir),
        0, "%s", err_buf);
    cr_assert_eq(
        run("cd %s && %s prep --quiet --threads 1 data/sample/test -o %s/test.h5", SRC, TAP, dir),
        0, "%s", err_buf);
}

// ---------------------------------------------------------------------------- lost files

Test(hostile, prep_refuses_an_output_that_is_an_input_a_hard_link_to_one_a_fifo_or_a_device) {
    const char *d = test_dir();
    char in[512], lnk[512], fifo[512], keep[512];
    snprintf(in, sizeof in, "%s/a.inkml", d);
    snprintf(keep, sizeof keep, "%s/a.copy", d);
    snprintf(lnk, sizeof lnk, "%s/b.h5", d);
    snprintf(fifo, sizeof fifo, "%s/f.h5", d);
    tu_copy_file(INK, in);
    tu_copy_file(INK, keep);
    cr_assert_eq(link(in, lnk), 0);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    const char *outs[] = {in, lnk, fifo, "/dev/null"};
    const char *why[] = {"it is the input", "it is the input", "it is a FIFO",
                         "it is a character device"};
    for (int k = 0; k < 4; k++) {
        int rc = run("cd %s && %s prep --quiet %s -o %s", SRC, TAP, in, outs[k]);
        cr_assert_eq(rc, 1, "-o %s: exit %d: %s", outs[k], rc, err_buf);
        cr_assert_eq(lines_with(err_buf, "tap prep: error: refusing to write the output"), 1, "%s",
                     err_buf);
        cr_assert(strstr(err_buf, why[k]), "-o %s: %s", outs[k], err_buf);
    }
    cr_assert(same_content(in, keep), "the input was changed");
    cr_assert(is_fifo(fifo));
    struct stat st;
    cr_assert(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode));
    // In a directory input too: the walk finds the output among the inputs.
    int rc = run("cd %s && %s prep --quiet %s -o %s", SRC, TAP, d, in);
    cr_assert_eq(rc, 1, "%s", err_buf);
    cr_assert(same_content(in, keep));
}

Test(hostile, average_decode_eval_render_and_train_refuse_outputs_that_would_lose_a_file) {
    const char *d = test_dir();
    sample_datasets(d);
    char m[512], fifo[512], hyp[512], keep[512];
    snprintf(m, sizeof m, "%s/m.h5", d);
    snprintf(fifo, sizeof fifo, "%s/fifo", d);
    snprintf(hyp, sizeof hyp, "%s/hyp.tsv", d);
    snprintf(keep, sizeof keep, "%s/hyp.keep", d);
    tu_copy_file(MODEL, m);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_assert_eq(
        run("cd %s && %s decode --quiet --beam 1 --max-len 5 %s %s -o %s", SRC, TAP, m, INK, hyp),
        0, "%s", err_buf);
    tu_copy_file(hyp, keep);
    struct {
        const char *cmd, *why;
    } cases[] = {
        {"%s average %s/m.h5 -o %s/m2.h5", "it is the input"}, // m2 is linked to m below
        {"%s average %s/m.h5 -o %s/fifo", "it is a FIFO"},
        {"%s decode --quiet %s/m.h5 " INK " -o %s/m2.h5", "it is the input"},
        {"%s decode --quiet %s/m.h5 " INK " -o %s/fifo", "it is a FIFO"},
        {"%s eval --details %s/hyp.tsv %s/hyp.tsv %s/test.h5", "it is the input"},
        {"%s eval %s/hyp.tsv %s/test.h5 --details /dev/null", "character device"},
        {"%s train %s/train.h5 %s/test.h5 --max-steps 1", "it is the input"}, // OUT_DIR below
    };
    char m2[512], dir[512], tsv[512];
    snprintf(m2, sizeof m2, "%s/m2.h5", d);
    cr_assert_eq(link(m, m2), 0);
    snprintf(dir, sizeof dir, "%s/run", d);
    snprintf(tsv, sizeof tsv, "%s/run/train.tsv", d);
    cr_assert_eq(mkdir(dir, 0700), 0);
    char train_h5[600];
    snprintf(train_h5, sizeof train_h5, "%s/train.h5", d);
    cr_assert_eq(link(train_h5, tsv), 0); // OUT_DIR/train.tsv is TRAIN.h5
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char cmd[4096], full[4200];
        snprintf(cmd, sizeof cmd, cases[k].cmd, TAP, d, d, d);
        if (strstr(cmd, " train "))
            snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), " %s", dir);
        snprintf(full, sizeof full, "cd %s && %s", SRC, cmd);
        int rc = run("%s", full);
        cr_assert_eq(rc, 1, "%s: exit %d: %s", cmd, rc, err_buf);
        cr_assert_eq(count(err_buf, "error: refusing to write the output"), 1, "%s: %s", cmd,
                     err_buf);
        cr_assert(strstr(err_buf, cases[k].why), "%s: %s", cmd, err_buf);
    }
    cr_assert(same_content(m, MODEL));
    cr_assert(same_content(hyp, keep));
    cr_assert(is_fifo(fifo));
    cr_assert(same_content(train_h5, tsv));
    // render: DIR/index.html a FIFO.
    char rdir[512], idx[600];
    snprintf(rdir, sizeof rdir, "%s/pics", d);
    snprintf(idx, sizeof idx, "%s/index.html", rdir);
    cr_assert_eq(mkdir(rdir, 0700), 0);
    cr_assert_eq(mkfifo(idx, 0600), 0);
    int rc = run("cd %s && %s render --beam 1 --max-len 5 %s %s -o %s", SRC, TAP, m, INK, rdir);
    cr_assert_eq(rc, 1, "%s", err_buf);
    cr_assert_eq(count(err_buf, "tap render: error: refusing to write the output"), 1, "%s",
                 err_buf);
    cr_assert(is_fifo(idx));
}

// ---------------------------------------------------------------------------- .att files

Test(hostile, render_skips_attention_files_with_any_field_out_of_range_naming_it) {
    const char *d = test_dir();
    char att[512], bad[512], pics[512];
    snprintf(att, sizeof att, "%s/att", d);
    snprintf(bad, sizeof bad, "%s/bad", d);
    snprintf(pics, sizeof pics, "%s/pics", d);
    cr_assert_eq(run("cd %s && %s decode --quiet --beam 1 --max-len 6 --attention %s %s %s", SRC,
                     TAP, att, MODEL, INK),
                 0, "%s", err_buf);
    cr_assert_eq(run("cd %s && %s render --attention %s %s -o %s", SRC, TAP, att, INK, pics), 0,
                 "the good file: %s", err_buf);
    cr_assert_eq(mkdir(bad, 0700), 0);
    // sed edits of the good file, and the reason each must give.
    struct {
        const char *sed, *why;
    } cases[] = {
        {"3s/finished [0-9]*/finished -5/", "finished must be 0 or 1"},
        {"3s/finished [0-9]*/finished 1000/", "finished must be 0 or 1"},
        {"3s/pool [0-9]*/pool 2147483647/", "pool must be a power of two"},
        {"3s/pool [0-9]*/pool 99999999999/", "'pool N' missing or not an int"},
        {"3s/rows [0-9]*/rows -1/", "rows must be in"},
        {"3s/annotations [0-9]*/annotations 0/", "annotations must be in"},
        {"3s/steps [0-9]*/steps 100000000/", "steps must be in"},
        {"3s/steps [0-9]*/steps 3/", "more tokens than the 3 steps"},
        {"4s/$/ extra/", "more tokens than the"},
        {"$d", "weight rows for"},
        {"$p", "more weight rows than"},
        {"5s/^[^ ]*/-0.5/", "weight 1 is not a number in [0, 1]"},
        {"5s/^[^ ]*/nan/", "weight 1 is not a number in [0, 1]"},
        {"5s/ [^ ]*$//", "has no weight"},
        {"1s/1/2/", "format version 2"},
        {"2d", "line 2 is not 'uid <uid>'"},
        {"3s/finished [0-9]*/finished 1 junk/", "extra text after finished"},
        {"3s/rows [0-9]*/rows 5/", "annotations must be in"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int rc = run("sed '%s' %s/18_em_0.att > %s/18_em_0.att", cases[k].sed, att, bad);
        cr_assert_eq(rc, 0);
        rc = run("cd %s && %s render --attention %s %s -o %s", SRC, TAP, bad, INK, pics);
        cr_assert_eq(rc, 1, "%s: exit %d: %s", cases[k].sed, rc, err_buf);
        cr_assert_eq(lines_with(err_buf, "tap render: skipped: "), 1, "%s: %s", cases[k].sed,
                     err_buf);
        cr_assert(strstr(err_buf, cases[k].why), "%s: expected '%s' in: %s", cases[k].sed,
                  cases[k].why, err_buf);
    }
}

// ---------------------------------------------------------------------------- uids, lists, paths

Test(hostile, uids_with_a_space_or_tab_are_refused_by_prep_and_decode_naming_the_reason) {
    const char *d = test_dir();
    const char *names[] = {"a b.inkml", "a\tb.inkml"};
    const char *why[] = {"unusable uid: it holds a space", "unusable uid: it holds a tab"};
    for (int k = 0; k < 2; k++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", d, names[k]);
        tu_copy_file(INK, p);
        int rc = run("cd %s && %s prep --quiet '%s' -o %s/x.h5", SRC, TAP, p, d);
        cr_assert_eq(rc, 1, "%s", err_buf);
        cr_assert(strstr(err_buf, why[k]), "%s", err_buf);
        rc = run("cd %s && %s decode --quiet '%s'", SRC, TAP, p);
        cr_assert_eq(rc, 1, "%s", err_buf);
        cr_assert_eq(count(err_buf, "tap decode: skipped: "), 1, "%s", err_buf);
        cr_assert(strstr(err_buf, why[k]), "%s", err_buf);
        cr_assert_eq(out_buf[0], '\0', "no TSV line: %s", out_buf);
        remove(p);
    }
}

Test(hostile, a_list_line_longer_than_8191_characters_is_one_line) {
    const char *d = test_dir();
    char list[512];
    snprintf(list, sizeof list, "%s/list.txt", d);
    FILE *f = fopen(list, "w");
    cr_assert_not_null(f);
    fputs("# ", f);
    for (int i = 0; i < 9000; i++)
        fputc('c', f);
    fprintf(f, " %s\n%s\n", INK, INK); // the comment's tail is no path
    cr_assert_eq(fclose(f), 0);
    int rc = run("cd %s && %s prep --list %s -o %s/x.h5", SRC, TAP, list, d);
    cr_assert_eq(rc, 0, "%s", err_buf);
    cr_assert(strstr(out_buf, "1 files: 1 converted, 0 skipped"), "%s", out_buf);
}

Test(hostile, a_long_path_keeps_the_reason_at_the_end_of_the_error_line) {
    char p[2048] = "";
    snprintf(p, sizeof p, "%s", test_dir());
    for (int i = 0; i < 8; i++) {
        size_t n = strlen(p);
        snprintf(p + n, sizeof p - n, "/%0100d", i);
    }
    int rc = run("%s eval %s/hyp.tsv %s/ref.tsv", TAP, p, p);
    cr_assert_eq(rc, 1);
    cr_assert_gt(strlen(p), 500);
    cr_assert(strstr(err_buf, "...") &&
                  strstr(err_buf, "hyp.tsv: cannot open: No such file or directory\n"),
              "%s", err_buf);
    cr_assert_eq(count(err_buf, "\n"), 1);
}

Test(hostile, train_maxlen_0_is_documented_as_no_limit) {
    cr_assert_eq(run("%s train --help", TAP), 0);
    cr_assert(strstr(out_buf, "--maxlen N") && strstr(out_buf, "(0: no limit"), "%s", out_buf);
}

Test(hostile, a_run_killed_before_its_first_save_starts_afresh_and_resume_says_so) {
    const char *d = test_dir();
    sample_datasets(d);
    char dir[512], f[600];
    snprintf(dir, sizeof dir, "%s/run", d);
    cr_assert_eq(mkdir(dir, 0700), 0);
    // What a kill inside the first last.h5 write leaves (checked by hand with
    // --debug-save-delay-ms and kill -9): the log and a partial last.h5.new.
    snprintf(f, sizeof f, "%s/last.h5.new", dir);
    tu_copy_file(INK, f);
    snprintf(f, sizeof f, "%s/train.tsv", dir);
    tu_copy_file(INK, f);
    int rc = run("%s train --resume %s/train.h5 %s/test.h5 %s", TAP, d, d, dir);
    cr_assert_eq(rc, 1, "%s", err_buf);
    cr_assert_eq(count(err_buf, "tap train: error: --resume: "), 1, "%s", err_buf);
    cr_assert(strstr(err_buf, "saved no state yet; start it afresh (without --resume"), "%s",
              err_buf);
    rc = run("%s train --preset small --threads 1 --max-steps 1 --valid-limit 1 --valid-beam 1 "
             "%s/train.h5 %s/test.h5 %s",
             TAP, d, d, dir);
    cr_assert_eq(rc, 0, "%s", err_buf);
    snprintf(f, sizeof f, "%s/last.h5", dir);
    cr_assert(exists(f));
}

// ---------------------------------------------------------------------------- full disk

Test(hostile, a_full_disk_fails_prep_average_decode_and_eval_with_one_line_and_no_crash) {
    const char *d = test_dir();
    sample_datasets(d);
    char hyp[512], det[512], keep[512];
    snprintf(hyp, sizeof hyp, "%s/hyp.tsv", d);
    snprintf(det, sizeof det, "%s/det.tsv", d);
    snprintf(keep, sizeof keep, "%s/det.keep", d);
    cr_assert_eq(run("cd %s && %s decode --quiet --beam 1 --max-len 5 %s data/sample/test -o %s",
                     SRC, TAP, MODEL, hyp),
                 0, "%s", err_buf);
    cr_assert_eq(run("%s eval --details %s %s %s/test.h5", TAP, det, hyp, d), 0, "%s", err_buf);
    tu_copy_file(det, keep);
    struct {
        long limit;
        const char *cmd, *what;
    } cases[] = {
        {16384, "%s prep --quiet data/sample/train -o %s/full.h5", "tap prep: error: "},
        {65536, "%s prep --quiet --threads 1 data/sample/train -o %s/full.h5", "tap prep: error: "},
        // the input list spilled to a temporary file beside the output, which then fills
        {2000, "env -u TMPDIR %s prep --quiet --list-memory 64 data/sample/train -o %s/full.h5",
         "tap prep: error: cannot write a temporary file in "},
        {65536, "%s average " MODEL " " MODEL " -o %s/full.h5", "tap average: error: "},
        {0, "%s decode --quiet --beam 1 --max-len 5 " MODEL " " INK " -o %s/full.tsv",
         "tap decode: error: "},
        {0, "%s decode --quiet --beam 1 --max-len 5 --attention %s/att " MODEL " " INK,
         "tap decode: error: "},
        {0, "%s eval --details %s/det.tsv %s/hyp.tsv %s/test.h5", "tap eval: error: "},
        {0, "%s eval %s/hyp.tsv %s/test.h5 >%s/scores.txt",
         "tap: error: writing to standard output"},
        {0, "%s render --beam 1 --max-len 5 " MODEL " " INK " -o %s/pics", "tap render: error: "},
        {1 << 20,
         "%s train --preset small --threads 1 --max-steps 1 --valid-limit 1 --valid-beam 1 "
         "%s/train.h5 %s/test.h5 %s/run",
         "tap train: error: "},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char cmd[4096], full[4200];
        snprintf(cmd, sizeof cmd, cases[k].cmd, TAP, d, d, d, d);
        snprintf(full, sizeof full, "cd %s && %s", SRC, cmd);
        int rc = run_limited(cases[k].limit, full);
        cr_assert_eq(rc, 1, "%s (limit %ld): exit %d (negative: a signal): %s", cmd, cases[k].limit,
                     rc, err_buf);
        cr_assert_eq(lines_with(err_buf, cases[k].what), 1, "%s: %s", cmd, err_buf);
        cr_assert(strstr(err_buf, "disk full?"), "%s: %s", cmd, err_buf);
    }
    char p[600];
    const char *gone[] = {"full.h5",      "full.h5.tmp", "full.tsv",
                          "full.tsv.tmp", "det.tsv.tmp", "run/last.h5"};
    for (size_t k = 0; k < sizeof gone / sizeof gone[0]; k++) {
        snprintf(p, sizeof p, "%s/%s", d, gone[k]);
        cr_assert(!exists(p), "%s was left", p);
    }
    cr_assert(same_content(det, keep), "--details was changed by the failed run");
}
