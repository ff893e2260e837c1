// walk_inkml on small trees made in a temporary directory: full-path order, links back up the
// tree, FIFOs, symbolic links, unreadable directories and the depth limit.
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"
#include "walk.h"

// root/rel, in a static buffer of 8 rotating slots (several may be in use in one call).
static const char *at(const char *root, const char *rel) {
    static char buf[8][4096];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", root, rel);
    return p;
}

static void make_dir(const char *root, const char *rel) {
    cr_assert_eq(mkdir(at(root, rel), 0700), 0, "mkdir %s", rel);
}

static void make_file(const char *root, const char *rel) {
    FILE *f = fopen(at(root, rel), "w");
    cr_assert_not_null(f, "cannot create %s", rel);
    fputs("<ink/>\n", f);
    fclose(f);
}

static void make_link(const char *root, const char *rel, const char *target) {
    cr_assert_eq(symlink(target, at(root, rel)), 0, "ln -s %s %s", target, rel);
}

// out holds exactly root/want[0], root/want[1], ... from index `from` on.
static void expect_paths(const WalkList *out, size_t from, const char *root,
                         const char *const *want, size_t n) {
    cr_assert_eq(out->n, from + n, "%zu paths, expected %zu", out->n - from, n);
    for (size_t i = 0; i < n; i++) cr_expect_str_eq(out->path[from + i], at(root, want[i]));
}

Test(walk, nested_directories_come_out_in_full_path_strcmp_order_and_other_files_are_ignored) {
    char root[512];
    snprintf(root, sizeof root, "%s", tu_tmpdir());
    // '-', ' ' and '.' sort before '/': a name-by-name order per directory would put
    // a/x.inkml before a-b.inkml and a.inkml; the full paths do not.
    const char *dirs[] = {"a", "a/b", "a b", "b", "b/c", "b/c/d"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) make_dir(root, dirs[i]);
    const char *files[] = {"x.inkml", "a/x.inkml",  "a-b.inkml",   "a.inkml",
                           "B.inkml", "a/b/y.inkml", "a b/q.inkml", "b/c/d/deep.inkml",
                           ".h.inkml", "notes.txt",  "x.inkml.bak", "a/z.INKML",
                           ".inkml",   "b/c/inkml"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) make_file(root, files[i]);
    WalkList out = {0};
    TapError err = {0};
    cr_assert_eq(walk_list_add(&out, "given first", &err), TAP_OK);
    cr_assert_eq(walk_inkml(root, &out, &err), TAP_OK, "%s", err.msg);
    const char *want[] = {".h.inkml",  "B.inkml",   "a b/q.inkml", "a-b.inkml",        "a.inkml",
                          "a/b/y.inkml", "a/x.inkml", "b/c/d/deep.inkml", "x.inkml"};
    cr_expect_str_eq(out.path[0], "given first", "walk_inkml appends");
    expect_paths(&out, 1, root, want, sizeof want / sizeof want[0]);
    for (size_t i = 2; i < out.n; i++)
        cr_expect_lt(strcmp(out.path[i - 1], out.path[i]), 0, "%s before %s", out.path[i - 1],
                     out.path[i]);
    // A root ending with '/' gives the same paths, not doubled slashes.
    WalkList slash = {0};
    char root_slash[600];
    snprintf(root_slash, sizeof root_slash, "%s/", root);
    cr_assert_eq(walk_inkml(root_slash, &slash, &err), TAP_OK, "%s", err.msg);
    expect_paths(&slash, 0, root, want, sizeof want / sizeof want[0]);
    walk_list_free(&slash);
    walk_list_free(&out);
    cr_expect_eq(out.n, 0);
    cr_expect_null(out.path);
}

Test(walk, two_links_to_the_directory_itself_end_and_each_file_is_listed_once) {
    char root[512];
    snprintf(root, sizeof root, "%s", tu_tmpdir());
    make_link(root, "a", ".");
    make_link(root, "b", ".");
    make_dir(root, "sub");
    make_link(root, "sub/up", "..");
    make_file(root, "x.inkml");
    make_file(root, "sub/y.inkml");
    WalkList out = {0};
    TapError err = {0};
    cr_assert_eq(walk_inkml(root, &out, &err), TAP_OK, "%s", err.msg);
    const char *want[] = {"sub/y.inkml", "x.inkml"};
    expect_paths(&out, 0, root, want, 2);
    walk_list_free(&out);
}

Test(walk, a_fifo_named_x_inkml_is_not_listed, .timeout = 20) {
    char root[512];
    snprintf(root, sizeof root, "%s", tu_tmpdir());
    cr_assert_eq(mkfifo(at(root, "x.inkml"), 0600), 0);
    make_file(root, "y.inkml");
    WalkList out = {0};
    TapError err = {0};
    cr_assert_eq(walk_inkml(root, &out, &err), TAP_OK, "%s", err.msg);
    const char *want[] = {"y.inkml"};
    expect_paths(&out, 0, root, want, 1);
    walk_list_free(&out);
}

Test(walk, symbolic_links_to_regular_files_and_to_directories_are_followed) {
    char base[512], root[600], other[600];
    snprintf(base, sizeof base, "%s", tu_tmpdir());
    snprintf(root, sizeof root, "%s/root", base);
    snprintf(other, sizeof other, "%s/other", base);
    cr_assert_eq(mkdir(root, 0700), 0);
    cr_assert_eq(mkdir(other, 0700), 0);
    make_file(other, "t.inkml");
    make_file(other, "t.txt");
    make_dir(other, "d");
    make_file(other, "d/q.inkml");
    make_link(root, "link.inkml", at(other, "t.inkml"));
    make_link(root, "named.inkml", "../other/t.txt"); // the link's name is what counts
    make_link(root, "plain.txt", at(other, "t.inkml"));
    make_link(root, "dir", at(other, "d"));
    // Dangling: listed, so that loading it reports the missing file as today's tools do.
    make_link(root, "gone.inkml", at(other, "missing.inkml"));
    WalkList out = {0};
    TapError err = {0};
    cr_assert_eq(walk_inkml(root, &out, &err), TAP_OK, "%s", err.msg);
    const char *want[] = {"dir/q.inkml", "gone.inkml", "link.inkml", "named.inkml"};
    expect_paths(&out, 0, root, want, 4);
    walk_list_free(&out);
}

// Walks root in a child process, as the user nobody when this process is root (root reads any
// directory whatever its mode). Returns the child's exit status: 0 with "rc\nn\npath0\nmsg" in
// buf, or 77 when privileges cannot be dropped, 78 when chmod 000 still lets it read, 79 when
// nobody cannot read root itself (a private TMPDIR).
static int walk_unprivileged(const char *root, const char *locked, char *buf, size_t len) {
    int fd;
    pid_t pid = tu_fork_pipe(&fd);
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(77);
        DIR *d = opendir(locked);
        if (d) _exit(78);
        if (!(d = opendir(root))) _exit(79);
        closedir(d);
        WalkList out = {0};
        TapError err = {0};
        int rc = walk_list_add(&out, "kept", &err);
        if (rc == TAP_OK) rc = walk_inkml(root, &out, &err);
        dprintf(fd, "%d\n%zu\n%s\n%s", rc, out.n, out.n ? out.path[0] : "", err.msg);
        _exit(0);
    }
    int st = tu_fork_collect(pid, fd, buf, len);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(walk, an_unreadable_directory_fails_naming_it_and_leaves_the_list_as_it_was) {
    char root[512], locked[600], buf[2048];
    snprintf(root, sizeof root, "%s", tu_tmpdir());
    make_file(root, "a.inkml");
    make_dir(root, "locked");
    make_file(root, "locked/b.inkml");
    snprintf(locked, sizeof locked, "%s/locked", root);
    cr_assert_eq(chmod(root, 0755), 0); // open to nobody, but for locked
    cr_assert_eq(chmod(locked, 0), 0);
    int st = walk_unprivileged(root, locked, buf, sizeof buf);
    chmod(locked, 0700);
    if (st >= 77 && st <= 79)
        cr_skip_test("%s: no user here for whom chmod 000 stops reading: check skipped",
                     st == 77   ? "cannot drop root privileges"
                     : st == 78 ? "chmod 000 does not stop reading"
                                : "nobody cannot read the temporary directory");
    cr_assert_eq(st, 0, "child exit %d", st);
    char *rc = strtok(buf, "\n"), *n = strtok(NULL, "\n"), *first = strtok(NULL, "\n"),
         *msg = strtok(NULL, "\n");
    cr_assert(rc && n && first && msg, "child wrote '%s'", buf);
    cr_expect_eq(atoi(rc), TAP_ERR_IO, "%s: %s", rc, msg);
    cr_expect(strstr(msg, locked) && strstr(msg, "cannot open directory"), "%s", msg);
    cr_expect_str_eq(n, "1", "the failed walk appended nothing");
    cr_expect_str_eq(first, "kept");
}

Test(walk, directories_deeper_than_the_limit_are_an_error) {
    char root[512], rel[400] = "";
    snprintf(root, sizeof root, "%s", tu_tmpdir());
    for (int level = 1; level <= WALK_MAX_DEPTH; level++) {
        strcat(rel, level > 1 ? "/d" : "d");
        make_dir(root, rel);
    }
    char file[420];
    snprintf(file, sizeof file, "%s/deep.inkml", rel);
    make_file(root, file);
    WalkList out = {0};
    TapError err = {0};
    cr_assert_eq(walk_inkml(root, &out, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(out.n, 1);
    cr_expect_str_eq(out.path[0], at(root, file));
    strcat(rel, "/d");
    make_dir(root, rel);
    cr_assert_eq(walk_inkml(root, &out, &err), TAP_ERR_ARG);
    cr_expect(strstr(err.msg, "more than 64 levels of directories below"), "%s", err.msg);
    cr_expect_eq(out.n, 1, "the failed walk appended nothing");
    walk_list_free(&out);
}

static int collect(void *ctx, const char *path, TapError *err) {
    return walk_list_add(ctx, path, err);
}

Test(walk, a_tiny_budget_spills_each_directory_s_entries_and_gives_the_same_paths_in_the_same_order) {
    char root[512];
    snprintf(root, sizeof root, "%s", tu_tmpdir());
    const char *dirs[] = {"a", "a/b", "a b", "big", "big/sub"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) make_dir(root, dirs[i]);
    const char *files[] = {"x.inkml", "a/x.inkml", "a-b.inkml", "a.inkml", "a/b/y.inkml",
                           "a b/q.inkml", "notes.txt", "big/sub/z.inkml"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) make_file(root, files[i]);
    for (int k = 0; k < 400; k++) { // a large directory, written in no particular order
        char rel[64];
        snprintf(rel, sizeof rel, "big/f%03d.inkml", (k * 7919) % 400);
        make_file(root, rel);
    }
    make_link(root, "big/loop", ".."); // followed once
    make_link(root, "a/b/up", "../..");
    WalkList want = {0}, got = {0};
    TapError err = {0};
    cr_assert_eq(walk_inkml(root, &want, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(want.n, 407);
    for (size_t limit = 64; limit <= 4096; limit *= 8) {
        SpillBudget b = {limit, 0, root};
        cr_assert_eq(walk_inkml_each(root, &b, collect, &got, &err), TAP_OK, "%s", err.msg);
        cr_expect_eq(b.used, 0);
        cr_assert_eq(got.n, want.n, "budget %zu", limit);
        for (size_t i = 0; i < want.n; i++)
            cr_assert_str_eq(got.path[i], want.path[i], "budget %zu, path %zu", limit, i);
        walk_list_free(&got);
    }
    walk_list_free(&want);
}
