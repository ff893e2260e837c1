// spill.h: sorted and ordered record lists under tiny budgets, so that chunks spill to
// temporary files and are merged over several levels; the same records come back as from a
// list that stays in memory. Also: the budget's accounting, the bits, temporary files that never
// show in their directory, and a full disk (RLIMIT_FSIZE in a child) giving one clear error.
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spill.h"
#include "test_util.h"

// Record k of a test set: a string of 0 to 39 letters from a small alphabet, so that there are
// equal records, prefixes of others and empty ones.
static size_t record(uint64_t k, char *out) {
    uint64_t h = (k + 1) * 0x9E3779B97F4A7C15ull;
    size_t n = (size_t)(h >> 58) % 40;
    for (size_t i = 0; i < n; i++) {
        h ^= h >> 29;
        h *= 0xBF58476D1CE4E5B9ull;
        out[i] = (char)('a' + (h >> 61));
    }
    out[n] = '\0';
    return n;
}

static int by_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t entries_in(const char *dir) {
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

// Adds n records to a list of the given budget limit and reads them back into got (strdup'd).
static void run_list(size_t limit, int sorted, size_t n, char **got, size_t *chunks,
                     size_t *merges) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    SpillBudget b = {limit, 0, dir};
    Spill s;
    spill_init(&s, &b, sorted);
    TapError err = {0};
    char buf[64];
    for (size_t k = 0; k < n; k++) {
        record(k, buf);
        cr_assert_eq(spill_add_str(&s, buf, &err), TAP_OK, "%s", err.msg);
        if (limit) cr_assert_leq(b.used, limit > 60 ? limit : 60, "over budget: %zu", b.used);
    }
    cr_assert_eq(spill_finish(&s, &err), TAP_OK, "%s", err.msg);
    cr_expect_eq(entries_in(dir), 0, "the runs are unlinked");
    const unsigned char *rec;
    size_t len, i = 0;
    int rc;
    while ((rc = spill_next(&s, &rec, &len, &err)) == 1) {
        cr_assert_lt(i, n);
        cr_assert_eq(len, strlen((const char *)rec) + 1, "len counts the '\\0'");
        got[i++] = strdup((const char *)rec);
    }
    cr_assert_eq(rc, 0, "%s", err.msg);
    cr_assert_eq(i, n, "%zu of %zu records came back", i, n);
    cr_expect_eq(s.n, n);
    *chunks = s.n_chunks;
    *merges = s.n_merges;
    spill_free(&s);
    cr_expect_eq(b.used, 0, "the budget is given back");
}

Test(spill, a_sorted_list_with_a_tiny_budget_merges_many_chunks_into_strcmp_order) {
    enum { N = 5000 };
    char **in_memory = calloc(N, sizeof *in_memory), **spilled = calloc(N, sizeof *spilled);
    size_t chunks, merges;
    run_list(0, 1, N, in_memory, &chunks, &merges);
    cr_expect_eq(chunks, 0, "no limit: nothing spills");
    run_list(200, 1, N, spilled, &chunks, &merges);
    cr_expect_gt(chunks, SPILL_FAN_IN * SPILL_FAN_IN, "%zu chunks", chunks);
    cr_expect_gt(merges, SPILL_FAN_IN, "%zu merges: several levels", merges);
    // the reference: qsort of the same strings
    char **want = calloc(N, sizeof *want), buf[64];
    for (size_t k = 0; k < N; k++) {
        record(k, buf);
        want[k] = strdup(buf);
    }
    qsort(want, N, sizeof *want, by_str);
    for (size_t k = 0; k < N; k++) {
        cr_assert_str_eq(in_memory[k], want[k], "record %zu in memory", k);
        cr_assert_str_eq(spilled[k], want[k], "record %zu spilled", k);
    }
    for (size_t k = 0; k < N; k++) free(in_memory[k]), free(spilled[k]), free(want[k]);
    free(in_memory);
    free(spilled);
    free(want);
}

Test(spill, an_ordered_list_with_a_tiny_budget_gives_the_records_back_in_the_order_added) {
    enum { N = 3000 };
    char **got = calloc(N, sizeof *got), buf[64];
    size_t chunks, merges;
    run_list(100, 0, N, got, &chunks, &merges);
    cr_expect_gt(chunks, 100, "%zu chunks", chunks);
    cr_expect_eq(merges, 0);
    for (size_t k = 0; k < N; k++) {
        record(k, buf);
        cr_assert_str_eq(got[k], buf, "record %zu", k);
        free(got[k]);
    }
    free(got);
}

Test(spill, binary_records_sort_by_memcmp_with_a_prefix_first_and_lists_share_a_budget) {
    SpillBudget b = {64, 0, tu_tmpdir()};
    Spill s, t;
    spill_init(&s, &b, 1);
    spill_init(&t, &b, 1);
    TapError err = {0};
    const unsigned char recs[][3] = {{1, 0, 2}, {1, 0, 1}, {0, 255, 0}, {1, 0, 0}, {1, 0, 1}};
    const size_t lens[] = {3, 3, 3, 2, 2}; // {1,0} twice: equal records both come back
    for (int k = 0; k < 5; k++) {
        cr_assert_eq(spill_add(&s, recs[k], lens[k], &err), TAP_OK, "%s", err.msg);
        cr_assert_eq(spill_add(&t, recs[k], lens[k], &err), TAP_OK, "%s", err.msg);
    }
    cr_expect_leq(b.used, 64);
    cr_expect_gt(s.n_chunks + t.n_chunks, 0, "two lists on one small budget spill");
    cr_assert_eq(spill_finish(&s, &err), TAP_OK, "%s", err.msg);
    const unsigned char want[][3] = {{0, 255, 0}, {1, 0}, {1, 0}, {1, 0, 1}, {1, 0, 2}};
    const size_t want_len[] = {3, 2, 2, 3, 3};
    const unsigned char *rec;
    size_t len;
    for (int k = 0; k < 5; k++) {
        cr_assert_eq(spill_next(&s, &rec, &len, &err), 1, "%s", err.msg);
        cr_assert_eq(len, want_len[k], "record %d", k);
        cr_assert_eq(memcmp(rec, want[k], len), 0, "record %d", k);
    }
    cr_expect_eq(spill_next(&s, &rec, &len, &err), 0);
    spill_free(&s);
    spill_free(&t);
    cr_expect_eq(b.used, 0);
}

Test(spill, bits_in_memory_and_in_a_file_beyond_the_budget) {
    for (int in_file = 0; in_file < 2; in_file++) {
        SpillBudget b = {in_file ? 16 : 1 << 20, 0, tu_tmpdir()};
        SpillBits bits;
        TapError err = {0};
        cr_assert_eq(spill_bits_init(&bits, &b, 1000, &err), TAP_OK, "%s", err.msg);
        cr_expect_eq(bits.file != NULL, in_file);
        for (size_t i = 0; i < 1000; i += 3) cr_assert_eq(spill_bits_set(&bits, i, &err), TAP_OK);
        for (size_t i = 0; i < 1000; i++)
            cr_assert_eq(spill_bits_get(&bits, i, &err), i % 3 == 0, "bit %zu", i);
        spill_bits_free(&bits);
        cr_expect_eq(b.used, 0);
    }
}

Test(spill, a_full_disk_for_the_temporary_files_is_one_clear_error) {
    int fd;
    pid_t pid = tu_fork_pipe(&fd);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {1000, 1000};
        setrlimit(RLIMIT_FSIZE, &rl);
        SpillBudget b = {100, 0, tu_tmpdir()};
        Spill s;
        spill_init(&s, &b, 1);
        TapError err = {0};
        int rc = TAP_OK;
        for (int k = 0; k < 100000 && rc == TAP_OK; k++)
            rc = spill_add_str(&s, "a record of some thirty bytes", &err);
        if (rc == TAP_OK) rc = spill_finish(&s, &err);
        dprintf(fd, "%d %s", rc, err.msg);
        spill_free(&s);
        _exit(0);
    }
    char buf[1024];
    cr_assert_eq(tu_fork_collect(pid, fd, buf, sizeof buf), 0);
    cr_expect(strstr(buf, "-1 cannot write a temporary file in "), "%s", buf);
    cr_expect(strstr(buf, "(disk full?)"), "%s", buf);
}

Test(spill, a_directory_that_cannot_hold_temporary_files_is_named) {
    SpillBudget b = {10, 0, "/nonexistent/dir"};
    Spill s;
    spill_init(&s, &b, 0);
    TapError err = {0};
    int rc = TAP_OK;
    for (int k = 0; k < 10 && rc == TAP_OK; k++) rc = spill_add_str(&s, "some record", &err);
    cr_expect_eq(rc, TAP_ERR_IO);
    cr_expect(strstr(err.msg, "cannot create a temporary file in /nonexistent/dir"), "%s", err.msg);
    spill_free(&s);
}
