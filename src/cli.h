// Table-driven option parser shared by every `tap` command. The same table gives the
// defaults (the fields' initial values), --help, the echo of the resolved config and
// `--config FILE` (lines `name = value`, # comments; flags on the command line win).
#ifndef TAP_CLI_H
#define TAP_CLI_H

#include <stddef.h>
#include <stdio.h>

typedef enum { CLI_INT, CLI_DOUBLE, CLI_STRING, CLI_FLAG } CliType;

typedef struct {
    const char *name; // long name without dashes, e.g. "batch-size"
    CliType type;
    void *field;      // int*, double*, const char**, or int* (flag: 0/1)
    const char *help;
} CliOption;

typedef struct {
    const char *command; // e.g. "prep"
    const char *usage;   // e.g. "[options] INPUT... -o OUT.h5"
    const char *summary; // one line
    const CliOption *opts;
    int n_opts;
} CliSpec;

enum { CLI_OK = 0, CLI_HELP = 1, CLI_USAGE = 2 };

// Parses argv[1..argc). Positional arguments are returned in pos (argv pointers, caller
// frees the array). On CLI_USAGE, err holds one line; on CLI_HELP, help was printed to out.
int cli_parse(const CliSpec *spec, int argc, char **argv, char ***pos, int *n_pos, char *err,
              size_t errlen, FILE *out);
void cli_print_help(const CliSpec *spec, FILE *out);
// Prints "name = value" for every option (the resolved configuration).
void cli_print_config(const CliSpec *spec, FILE *out, const char *line_prefix);
// Writes the resolved configuration into a buffer (same format); returns bytes needed.
size_t cli_format_config(const CliSpec *spec, char *buf, size_t len);

// cli.h knows long options only: a copy of argv (free the array, not the strings) with "-o"
// spelled "--output", for the commands whose output is -o.
char **cli_short_o(int argc, char **argv);

// What a command parsed: the copy of argv with -o spelled --output (NULL when not asked for) and
// the positional arguments. The start every command but prep and train makes:
//     CliArgs a;
//     int rc = cli_args_parse(&a, &spec, argc, argv, 1, msg, sizeof msg);
//     if (rc == CLI_OK && a.n_pos != 1) snprintf(msg, sizeof msg, "..."), rc = CLI_USAGE;
//     if (rc != CLI_OK) return cli_args_exit(&a, &spec, rc, msg);
//     ... cli_args_free(&a);
typedef struct {
    char **args;
    char **pos; // (n_pos) pointers into argv
    int n_pos;
} CliArgs;

enum { CLI_NOMEM = 3 }; // cli_args_parse only: no memory for the copy of argv (no message)

// cli_parse of argv (after cli_short_o when short_o): CLI_OK, CLI_HELP (help printed on stdout),
// CLI_USAGE (msg holds one line) or CLI_NOMEM. Free a with cli_args_free, whatever it returns.
int cli_args_parse(CliArgs *a, const CliSpec *spec, int argc, char **argv, int short_o, char *msg,
                   size_t msg_len);
void cli_args_free(CliArgs *a);
// Ends a command that stops after parsing: frees a and returns the exit code for rc: 0 for
// CLI_HELP, 2 for CLI_USAGE (after "tap COMMAND: error: MSG" on stderr), 1 for CLI_NOMEM.
int cli_args_exit(CliArgs *a, const CliSpec *spec, int rc, const char *msg);

#endif
