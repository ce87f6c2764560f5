// util/flags.h — command-line flags from one table per subcommand: parsing with clear errors and
// a --help that lists every flag with its default (read from the variable before parsing) and
// its meaning.
#ifndef RLHF_UTIL_FLAGS_H
#define RLHF_UTIL_FLAGS_H

#include "util/common.h"

typedef enum { FLAG_INT, FLAG_LONG, FLAG_FLOAT, FLAG_DOUBLE, FLAG_STRING, FLAG_BOOL } FlagType;

typedef struct {
    const char *name;   // long name without dashes, e.g. "lr"
    char short_name;    // e.g. 'n', or 0
    FlagType type;
    void *ptr;          // int*, long*, float*, double*, const char**, int* (bool)
    const char *help;   // one line; "(required)" is added for required flags
    int required;
    int seen;           // set by flags_parse when given on the command line
} Flag;

// Parses argv[1..argc) (argv[0] is the subcommand name). Accepts "--name value", "--name=value",
// "-n value", and "--name"/"--no-name" for bools. Positional arguments are not accepted unless
// positional != NULL: then up to max_positional are stored there and *n_positional is set.
// "--help"/"-h" prints help (usage, description, the flag table with defaults) and exits 0.
// Errors ("rlhf CMD: unknown flag --x", "flag --lr: expected a number, got 'abc'", missing
// required flag) are printed to stderr with a hint to --help, then exit(2).
void flags_parse(const char *cmd, const char *usage, const char *description, Flag *flags,
                 int nflags, int argc, char **argv, const char **positional, int max_positional,
                 int *n_positional);
void flags_print_help(const char *cmd, const char *usage, const char *description,
                      const Flag *flags, int nflags);
// Was the flag given explicitly?
int flag_seen(const Flag *flags, int nflags, const char *name);

#endif
