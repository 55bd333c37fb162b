/* yun_cli.h: the `yun` command-line client, split so its parts can be tested without a process:
 * argument parsing (cli_parse), where the URL and token come from (cli_conf_*), output (cli_table_*,
 * cli_kv_print) and the commands themselves (cli_main, which writes only to the streams it is given).
 * Exit codes: 0 done, 1 the server (or the network, or the local file system) said no, 2 usage error. */
#ifndef YUN_CMD_YUN_CLI_H
#define YUN_CMD_YUN_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

#define CLI_DEFAULT_URL "https://127.0.0.1:8080"
#define CLI_DEFAULT_TOKEN_FILE "var/admin.token"
#define CLI_DEFAULT_CA_FILE "var/tls/ca.pem" /* the CA of `make up`'s yund (its STATE is var) */
#define CLI_MAX_OPTS 24
#define CLI_MAX_GIVEN 64 /* option values given in one command line */
#define CLI_MAX_POS 4

/* ---- where to talk to ---- */
typedef enum { CLI_SRC_NONE, CLI_SRC_FLAG, CLI_SRC_ENV, CLI_SRC_CONFIG, CLI_SRC_DEFAULT } cli_src;

typedef struct cli_conf {
    char *url;   /* malloc'd, without a trailing '/': the first of urls, the base of every request's URL */
    char *urls;  /* malloc'd, "URL[,URL...]" as given: several controllers, tried in turn (http_global_controllers) */
    char *token; /* malloc'd, or NULL when none was found anywhere */
    char *ca;    /* the CA file HTTPS trusts, or NULL: the system's (http_global_trust) */
    char *pin;   /* the server key's pin "sha256//...", or NULL */
    cli_src url_src;
    cli_src token_src;
} cli_conf;

/* The config file's path: $XDG_CONFIG_HOME/yun/config when XDG_CONFIG_HOME is an absolute path, else
 * $HOME/.config/yun/config. NULL (and err) when neither variable helps. Caller frees. */
char *cli_config_path(const char *xdg_config_home, const char *home, yun_err *err);

/* Reads "url = ..." and "token = ..." lines from path (# starts a comment). A missing file is not an
 * error: *url and *token stay NULL. Caller frees both. */
int cli_config_read(const char *path, char **url, char **token, yun_err *err);

/* Writes url and token to path with mode 0600 (its directory 0700, created when missing), replacing
 * the old file atomically so a crash never leaves half a config. */
int cli_config_write(const char *path, const cli_conf *c, yun_err *err); /* url, token, ca, pin (the set ones) */

typedef struct cli_conf_in {
    const char *flag_url, *flag_token, *flag_ca, *flag_pin; /* --url, --token, --ca, --pin */
    const char *env_url, *env_token, *env_ca, *env_pin;     /* YUN_URL, YUN_TOKEN, YUN_CA, YUN_PIN */
    const char *config_path;                                /* keys url, token, ca, pin */
    const char *token_file, *ca_file;                       /* this machine's yund's (CLI_DEFAULT_*) */
} cli_conf_in;
/* Resolves the URL, the token, the CA file and the pin, each on its own, in this order: the flags, the
 * environment, the config file, then CLI_DEFAULT_URL. When no token was found and the URL points at this
 * machine (127.0.0.1, localhost, [::1]), the token is read from token_file (relative paths are relative to the
 * working directory), and with neither CA nor pin given, ca_file is trusted when it is readable, so `make up`
 * then `yun ...` works with nothing set; a local admin token is never sent to a remote server. Any field may
 * be NULL. A config file that cannot be read is an error; a missing one is not. */
int cli_conf_resolve(const cli_conf_in *in, cli_conf *out, yun_err *err);
void cli_conf_free(cli_conf *c);

/* ---- arguments ---- */
typedef struct cli_ctx cli_ctx;
typedef struct cli_args cli_args;

typedef struct cli_opt {
    const char *name; /* long name without "--" */
    const char *arg;  /* the value's name in help ("N", "SIZE"), NULL for a flag */
    const char *help;
    bool required; /* the command cannot run without it (checked by cli_main, a usage error) */
} cli_opt;

typedef struct cli_cmd {
    const char *group; /* "vm"; NULL for top-level commands (login, logout, help, version) */
    const char *name;  /* "create" */
    const char *pos;   /* positional arguments for the usage line ("NAME"), "" when none */
    int min_pos, max_pos;
    const char *summary;
    const cli_opt *opts; /* terminated by {NULL} */
    int (*run)(cli_ctx *ctx, const cli_args *a);
} cli_cmd;

struct cli_args {
    const cli_cmd *cmd; /* NULL when the command was not found (or only help was asked) */
    const char *group;  /* the group word given, when the command was not complete ("vm") */
    const char *pos[CLI_MAX_POS];
    int npos;
    const char *val[CLI_MAX_OPTS]; /* per cmd->opts entry: the value, "" for a flag given, NULL absent */
    /* every value given, in order, for options that may repeat (cli_opt_vals): which entry, and the value */
    int given_k[CLI_MAX_GIVEN];
    const char *given[CLI_MAX_GIVEN];
    int ngiven;
    /* global options */
    const char *url, *token, *ca, *pin;
    bool json;
    bool help;
};

/* The command table, terminated by an entry with name NULL. */
extern const cli_cmd cli_commands[];

/* Parses argv (without argv[0]). Global options (-o/--output json|table, --url, --token, -h/--help) may
 * stand anywhere; "--opt=value" and "--opt value" both work; "--" ends the options. Fails with
 * YUN_E_INVALID and a message that says what was wrong and what the command takes. When --help is given
 * or the command is incomplete, a->help is set and a->cmd / a->group say what help to show. */
int cli_parse(int argc, char **argv, cli_args *a, yun_err *err);

/* The value of option name for the parsed command, or NULL when not given. */
const char *cli_opt_val(const cli_args *a, const char *name);
/* Every value given for option name, in order (`--ssh-key a --ssh-key b`), into out (at most max); the count. */
int cli_opt_vals(const cli_args *a, const char *name, const char **out, int max);

/* Parses a whole number in [min, max] for the option or argument named what. */
int cli_parse_int(const char *s, const char *what, long long min, long long max, long long *out, yun_err *err);

/* Percent-encodes s for use as one URL path segment or query value. Caller frees. */
char *cli_url_escape(const char *s);

/* ---- output ---- */
typedef struct cli_table {
    size_t ncols, nrows, cap;
    char **cells; /* (nrows + 1) x ncols, row 0 is the header */
} cli_table;

void cli_table_init(cli_table *t, size_t ncols, const char *const *headers);
/* Adds a row of ncols cells; NULL cells print as "-". */
void cli_table_add(cli_table *t, const char *const *cells);
/* Left-aligned columns separated by two spaces, no trailing blanks; column widths count UTF-8 characters. */
void cli_table_print(const cli_table *t, FILE *out);
void cli_table_free(cli_table *t);
/* One table cell made from a list item; NULL or "" prints as "-". Caller frees. */
/* Reads file ("-": standard input) whole, or max + 1 bytes of it when it is longer (for the rule that refuses
 * it to say so), into out (malloc'd, NUL-terminated; n its length, NULs included). IO when it cannot be read. */
int cli_read_text(cli_ctx *ctx, const char *file, size_t max, char **out, size_t *n, yun_err *err);

typedef char *(*cli_cell_fn)(json_t *item);
/* Prints the items of a JSON array as a table: column c is headers[c] over cells[c](item), for c < ncols. */
void cli_items_print(json_t *items, size_t ncols, const char *const *headers, const cli_cell_fn *cells, FILE *out);

/* "key: value" lines for an object, keys aligned. Nested objects print as "parent.key"; *_mib values print
 * as sizes ("mem: 128M"), *_ms timestamps as UTC times; arrays print compactly as JSON. */
void cli_kv_print(json_t *obj, FILE *out);

/* A size for a table cell: exact when it is whole M or G ("128M", "2G"), else rounded to what a person
 * compares at a glance ("1.5G", "77G", "1.2T"). Caller frees. */
char *cli_human_mib(uint64_t mib);

/* Console follow: given the tail sent before (prev) and the tail now (cur), the part of cur that is new.
 * The server sends a bounded window of the log's end, so cur may have lost its start. Returns an offset
 * into cur. */
size_t cli_console_new_offset(const char *prev, size_t prev_len, const char *cur, size_t cur_len);

/* s (n bytes, may hold NULs and invalid UTF-8) as valid UTF-8 without NULs: each bad byte becomes U+FFFD.
 * Caller frees. */
char *cli_utf8_clean(const char *s, size_t n);

/* ---- running ---- */
/* Everything a command needs; nothing global. env reads the environment (getenv in main; tests pass
 * their own). poll_ms is the --wait / --follow interval. */
struct cli_ctx {
    FILE *out, *err;
    const char *(*env)(const char *name);
    long poll_ms;
    long wait_timeout_ms;
    /* filled by cli_main */
    cli_conf conf;
    bool json;
};

/* Runs one command line (argv without argv[0]) and returns the exit code. */
int cli_main(cli_ctx *ctx, int argc, char **argv);

#endif
