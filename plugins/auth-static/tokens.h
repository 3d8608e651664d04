/*
 * A table of static tokens, read from a text file of `token user-id [extra]` lines.
 *
 * Tokens are stored only as their SHA-256 digests and looked up by digest: how long a lookup
 * takes depends on the digest of the presented token, which says nothing about how many leading
 * characters it shares with a real one. Error messages name the file and the line, never a token.
 */
#ifndef SB_PLUGIN_TOKENS_H
#define SB_PLUGIN_TOKENS_H

#include <stddef.h>

#include <switchboard/errors.h>

#define TOKENS_DIGEST_LEN 32
#define TOKENS_MAX_FILE   (16u * 1024 * 1024) /* bytes; a bigger file is refused */

struct token_entry {
    unsigned char digest[TOKENS_DIGEST_LEN]; /* SHA-256 of the token */
    char *user;                              /* owned; NULL marks an empty slot */
    unsigned line;                           /* where the token was defined, for duplicates */
};

struct tokens {
    struct token_entry *slots; /* owned; open addressing, capacity a power of two */
    size_t cap;
    size_t count;
};

void tokens_init(struct tokens *t);
/* Frees every entry and the table, and leaves `t` empty. */
void tokens_free(struct tokens *t);

/*
 * Adds the entries of a tokens file whose content is `text` (`len` bytes). `name` (borrowed)
 * names the file in error messages. Blank lines and lines whose first non-blank character is '#'
 * are skipped; fields are separated by spaces or tabs; a third field is allowed and ignored; a
 * line may end with CRLF. On failure writes "<name>:<line>: <reason>" into `err` and returns
 * SB_EINVAL (malformed line), SB_EEXISTS (duplicate token) or SB_ENOMEM; entries added before
 * the bad line stay in `t`.
 */
int tokens_parse(struct tokens *t, const char *text, size_t len, const char *name, char *err,
                 size_t errlen);

/*
 * Reads the file at `path` and parses it as tokens_parse() does. An unreadable or oversized file
 * gives "<path>: <reason>" and SB_EIO or SB_ETOOBIG. The file's bytes are wiped from memory
 * after parsing.
 */
int tokens_load(struct tokens *t, const char *path, char *err, size_t errlen);

/* Returns the user id of `token` (`len` bytes; borrowed, valid until tokens_free()), or NULL. */
const char *tokens_lookup(const struct tokens *t, const char *token, size_t len);

#endif
