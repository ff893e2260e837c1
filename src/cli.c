#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

// String values read from --config files outlive the parse (the option fields point at them):
// one copy per distinct value, kept for the process, so parsing again (tap train --resume parses
// twice; tap_train may run many times in one process) adds nothing.
static char *intern(const char *s) {
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static char **all;
    static size_t n, cap;
    char *got = NULL;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < n && !got; i++)
        if (!strcmp(all[i], s)) got = all[i];
    if (!got && n == cap) {
        size_t c = cap ? 2 * cap : 16;
        char **grown = realloc(all, c * sizeof *grown);
        if (grown) all = grown, cap = c;
    }
    if (!got && n < cap && (got = strdup(s))) all[n++] = got;
    pthread_mutex_unlock(&mu);
    return got;
}

static const CliOption *find_option(const CliSpec *s, const char *name, size_t len) {
    for (int i = 0; i < s->n_opts; i++)
        if (strlen(s->opts[i].name) == len && strncmp(s->opts[i].name, name, len) == 0)
            return &s->opts[i];
    return NULL;
}

static int set_value(const CliOption *o, const char *value, char *err, size_t errlen) {
    char *end = NULL;
    errno = 0;
    switch (o->type) {
    case CLI_INT: {
        long v = strtol(value, &end, 10);
        if (!*value || *end || errno || v < -2147483647L || v > 2147483647L) {
            snprintf(err, errlen, "--%s expects an integer, got '%s'", o->name, value);
            return CLI_USAGE;
        }
        *(int *)o->field = (int)v;
        return CLI_OK;
    }
    case CLI_DOUBLE: {
        double v = strtod(value, &end);
        if (!*value || *end || errno || !isfinite(v)) {
            snprintf(err, errlen, "--%s expects a number, got '%s'", o->name, value);
            return CLI_USAGE;
        }
        *(double *)o->field = v;
        return CLI_OK;
    }
    case CLI_STRING: *(const char **)o->field = value; return CLI_OK;
    case CLI_FLAG:
        if (!strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "yes"))
            *(int *)o->field = 1;
        else if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "no"))
            *(int *)o->field = 0;
        else {
            snprintf(err, errlen, "--%s expects true or false, got '%s'", o->name, value);
            return CLI_USAGE;
        }
        return CLI_OK;
    }
    return CLI_USAGE;
}

// Config-file strings must outlive the parse: they are kept for the process lifetime.
static int load_config(const CliSpec *s, const char *path, const unsigned char *set_on_cli,
                       char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read config file '%s': %s", path, strerror(errno));
        return CLI_USAGE;
    }
    char *line = NULL; // a line of any length is one line
    size_t line_cap = 0;
    int lineno = 0, rc = CLI_OK;
    while (rc == CLI_OK && getline(&line, &line_cap, f) >= 0) {
        lineno++;
        char *p = line;
        char *hash = strchr(p, '#');
        if (hash) *hash = '\0';
        while (isspace((unsigned char)*p)) p++;
        if (!*p) continue;
        char *eq = strchr(p, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected 'name = value'", path, lineno);
            rc = CLI_USAGE;
            break;
        }
        char *name_end = eq;
        while (name_end > p && isspace((unsigned char)name_end[-1])) name_end--;
        char *value = eq + 1;
        while (isspace((unsigned char)*value)) value++;
        char *vend = value + strlen(value);
        while (vend > value && isspace((unsigned char)vend[-1])) *--vend = '\0';
        const CliOption *o = find_option(s, p, (size_t)(name_end - p));
        if (!o) {
            snprintf(err, errlen, "%s:%d: unknown option '%.*s'", path, lineno, (int)(name_end - p), p);
            rc = CLI_USAGE;
            break;
        }
        if (set_on_cli[o - s->opts]) continue;
        char *copy = o->type == CLI_STRING ? intern(value) : value;
        if (!copy) {
            snprintf(err, errlen, "out of memory");
            rc = CLI_USAGE;
            break;
        }
        rc = set_value(o, copy, err, errlen);
    }
    free(line);
    fclose(f);
    return rc;
}

int cli_parse(const CliSpec *s, int argc, char **argv, char ***pos, int *n_pos, char *err,
              size_t errlen, FILE *out) {
    *pos = calloc((size_t)argc + 1, sizeof **pos);
    *n_pos = 0;
    unsigned char *set_on_cli = calloc((size_t)s->n_opts + 1, 1);
    if (!*pos || !set_on_cli) {
        snprintf(err, errlen, "out of memory");
        free(set_on_cli);
        return CLI_USAGE;
    }
    const char *config = NULL;
    int rc = CLI_OK, only_positional = 0;
    for (int i = 1; i < argc && rc == CLI_OK; i++) {
        const char *a = argv[i];
        if (only_positional || a[0] != '-' || a[1] == '\0') {
            (*pos)[(*n_pos)++] = argv[i];
            continue;
        }
        if (!strcmp(a, "--")) {
            only_positional = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            cli_print_help(s, out);
            rc = CLI_HELP;
            break;
        }
        if (a[1] != '-') {
            snprintf(err, errlen, "unknown option '%s' (options are long: --name value)", a);
            rc = CLI_USAGE;
            break;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        if (len == 6 && !strncmp(name, "config", 6)) {
            if (eq) config = eq + 1;
            else if (i + 1 < argc) config = argv[++i];
            else {
                snprintf(err, errlen, "--config needs a file");
                rc = CLI_USAGE;
            }
            continue;
        }
        const CliOption *o = find_option(s, name, len);
        int negated = 0;
        if (!o && len > 3 && !strncmp(name, "no-", 3)) {
            o = find_option(s, name + 3, len - 3);
            negated = o && o->type == CLI_FLAG;
            if (!negated) o = NULL;
        }
        if (!o) {
            snprintf(err, errlen, "unknown option '--%.*s' (see --help)", (int)len, name);
            rc = CLI_USAGE;
            break;
        }
        set_on_cli[o - s->opts] = 1;
        if (o->type == CLI_FLAG && !eq) {
            *(int *)o->field = !negated;
            continue;
        }
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value) {
            snprintf(err, errlen, "--%s needs a value", o->name);
            rc = CLI_USAGE;
            break;
        }
        rc = set_value(o, value, err, errlen);
    }
    if (rc == CLI_OK && config) rc = load_config(s, config, set_on_cli, err, errlen);
    free(set_on_cli);
    return rc;
}

static void format_value(const CliOption *o, char *buf, size_t len) {
    switch (o->type) {
    case CLI_INT: snprintf(buf, len, "%d", *(int *)o->field); break;
    case CLI_DOUBLE: snprintf(buf, len, "%.10g", *(double *)o->field); break;
    case CLI_STRING: {
        const char *v = *(const char **)o->field;
        snprintf(buf, len, "%s", v ? v : "");
        break;
    }
    case CLI_FLAG: snprintf(buf, len, "%s", *(int *)o->field ? "true" : "false"); break;
    }
}

void cli_print_help(const CliSpec *s, FILE *out) {
    fprintf(out, "usage: tap %s %s\n%s\n\noptions (default in brackets):\n", s->command, s->usage,
            s->summary);
    for (int i = 0; i < s->n_opts; i++) {
        const CliOption *o = &s->opts[i];
        char v[256], left[96];
        format_value(o, v, sizeof v);
        snprintf(left, sizeof left, "--%s%s", o->name,
                 o->type == CLI_FLAG ? "" : o->type == CLI_STRING ? " S" : " N");
        fprintf(out, "  %-26s %s [%s]\n", left, o->help, o->type == CLI_STRING && !v[0] ? "none" : v);
    }
    fprintf(out, "  %-26s %s\n", "--config FILE", "read 'name = value' lines (command line wins)");
    fprintf(out, "  %-26s %s\n", "-h, --help", "show this help");
}

void cli_print_config(const CliSpec *s, FILE *out, const char *prefix) {
    for (int i = 0; i < s->n_opts; i++) {
        char v[256];
        format_value(&s->opts[i], v, sizeof v);
        fprintf(out, "%s%s = %s\n", prefix ? prefix : "", s->opts[i].name, v);
    }
}

size_t cli_format_config(const CliSpec *s, char *buf, size_t len) {
    size_t used = 0;
    for (int i = 0; i < s->n_opts; i++) {
        char v[256];
        format_value(&s->opts[i], v, sizeof v);
        int n = snprintf(used < len ? buf + used : NULL, used < len ? len - used : 0, "%s = %s\n",
                         s->opts[i].name, v);
        used += (size_t)n;
    }
    return used;
}

char **cli_short_o(int argc, char **argv) {
    char **v = malloc(((size_t)argc + 1) * sizeof *v);
    if (!v) return NULL;
    for (int i = 0; i < argc; i++) v[i] = strcmp(argv[i], "-o") ? argv[i] : (char *)"--output";
    v[argc] = NULL;
    return v;
}

int cli_args_parse(CliArgs *a, const CliSpec *spec, int argc, char **argv, int short_o, char *msg,
                   size_t msg_len) {
    a->args = short_o ? cli_short_o(argc, argv) : NULL;
    a->pos = NULL;
    a->n_pos = 0;
    if (short_o && !a->args) return CLI_NOMEM;
    return cli_parse(spec, argc, short_o ? a->args : argv, &a->pos, &a->n_pos, msg, msg_len,
                     stdout);
}

void cli_args_free(CliArgs *a) {
    free(a->pos), free(a->args);
    a->pos = a->args = NULL;
    a->n_pos = 0;
}

int cli_args_exit(CliArgs *a, const CliSpec *spec, int rc, const char *msg) {
    cli_args_free(a);
    if (rc == CLI_HELP) return 0;
    if (rc == CLI_NOMEM) return 1;
    fprintf(stderr, "tap %s: error: %s\n", spec->command, msg);
    return 2;
}
