#include "httpc.h"

#include "answer.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <switchboard/errors.h>

/* ---- the service's URL ---- */

static int bad(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return SB_EINVAL;
}

int httpc_url_parse(const char *url, struct httpc_url *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    static const char scheme[] = "http://";
    if (!url || strncasecmp(url, scheme, sizeof(scheme) - 1) != 0)
        return bad(why, strncasecmp(url ? url : "", "https://", 8) == 0
                            ? "https is not supported: the service must be plain http on a "
                              "trusted network"
                            : "the url must start with http://");
    const char *p = url + sizeof(scheme) - 1;
    const char *auth_end = p + strcspn(p, "/?#");
    if (memchr(p, '@', (size_t)(auth_end - p)))
        return bad(why, "user info (user@) is not supported in the url");
    if (strchr(p, '#'))
        return bad(why, "a fragment (#) is not allowed in the url");

    char host[48]; /* an IP address fits: INET6_ADDRSTRLEN is 46 */
    const char *port_text = NULL;
    size_t hlen;
    bool v6 = *p == '[';
    if (v6) {
        const char *close = memchr(p, ']', (size_t)(auth_end - p));
        if (!close)
            return bad(why, "unterminated [IPv6] address in the url");
        hlen = (size_t)(close - p - 1);
        if (hlen == 0 || hlen >= sizeof(host))
            return bad(why, "bad [IPv6] address in the url");
        memcpy(host, p + 1, hlen);
        host[hlen] = '\0';
        if (close + 1 < auth_end) {
            if (close[1] != ':')
                return bad(why, "bad characters after the [IPv6] address in the url");
            port_text = close + 2;
        }
    } else {
        const char *colon = memchr(p, ':', (size_t)(auth_end - p));
        const char *hend = colon ? colon : auth_end;
        hlen = (size_t)(hend - p);
        if (hlen == 0 || hlen >= sizeof(host))
            return bad(why, "the url has no host");
        memcpy(host, p, hlen);
        host[hlen] = '\0';
        if (colon)
            port_text = colon + 1;
    }
    unsigned long port = 80;
    if (port_text) {
        if (port_text == auth_end)
            return bad(why, "empty port in the url");
        port = 0;
        for (const char *q = port_text; q < auth_end; q++) {
            if (!isdigit((unsigned char)*q) || port > 65535)
                return bad(why, "the port of the url must be a number from 1 to 65535");
            port = port * 10 + (unsigned long)(*q - '0');
        }
        if (port == 0 || port > 65535)
            return bad(why, "the port of the url must be a number from 1 to 65535");
    }

    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out->addr;
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
            return bad(why, "bad [IPv6] address in the url");
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        out->addrlen = sizeof(*a);
        snprintf(out->host, sizeof(out->host), "[%s]:%lu", host, port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&out->addr;
        const char *ip = strcasecmp(host, "localhost") == 0 ? "127.0.0.1" : host;
        if (inet_pton(AF_INET, ip, &a->sin_addr) != 1)
            return bad(why, "the host of the url must be an IP address or localhost (names are "
                            "not resolved)");
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        out->addrlen = sizeof(*a);
        snprintf(out->host, sizeof(out->host), "%s:%lu", host, port);
    }

    const char *path = auth_end;
    for (const char *q = path; *q; q++)
        if ((unsigned char)*q <= ' ' || *q == 0x7f)
            return bad(why, "spaces and control characters are not allowed in the url's path");
    if (*path == '?') {
        /* "http://h:1?x" means the path "/?x". */
        size_t n = strlen(path);
        out->path = malloc(n + 2);
        if (out->path) {
            out->path[0] = '/';
            memcpy(out->path + 1, path, n + 1);
        }
    } else {
        out->path = strdup(*path ? path : "/");
    }
    if (!out->path)
        return SB_ENOMEM;
    return 0;
}

void httpc_url_free(struct httpc_url *u)
{
    free(u->path);
    u->path = NULL;
}

/* ---- the request ---- */

char *httpc_request(const struct httpc_url *u, const char *header, const char *token,
                    const char *nsp, const char *user_agent, size_t *len)
{
    if (!answer_header_safe(token) || !answer_header_safe(nsp))
        return NULL;
    bool bearer = strcasecmp(header, "Authorization") == 0;
    const char *fmt = "GET %s HTTP/1.1\r\n"
                      "Host: %s\r\n"
                      "%s: %s%s\r\n"
                      "X-Switchboard-Namespace: %s\r\n"
                      "Accept: application/json\r\n"
                      "User-Agent: %s\r\n"
                      "Connection: close\r\n"
                      "\r\n";
    const char *prefix = bearer ? "Bearer " : "";
    int n = snprintf(NULL, 0, fmt, u->path, u->host, header, prefix, token, nsp, user_agent);
    if (n < 0)
        return NULL;
    char *out = malloc((size_t)n + 1);
    if (!out)
        return NULL;
    snprintf(out, (size_t)n + 1, fmt, u->path, u->host, header, prefix, token, nsp, user_agent);
    *len = (size_t)n;
    return out;
}

/* ---- the answer ---- */

void httpc_response_init(struct httpc_response *r)
{
    memset(r, 0, sizeof(*r));
}

void httpc_response_free(struct httpc_response *r)
{
    free(r->buf);
    free(r->body);
    httpc_response_init(r);
}

/* The next line of buf[*pos..end) without its CRLF (or bare LF): returns false when the line is
 * not complete yet. */
static bool next_line(const char *buf, size_t end, size_t *pos, const char **line, size_t *len)
{
    const char *start = buf + *pos;
    const char *nl = memchr(start, '\n', end - *pos);
    if (!nl)
        return false;
    size_t n = (size_t)(nl - start);
    if (n && start[n - 1] == '\r')
        n--;
    *line = start;
    *len = n;
    *pos = (size_t)(nl - buf) + 1;
    return true;
}

static bool is_token_char(char c)
{
    return isalnum((unsigned char)c) || strchr("!#$%&'*+-.^_`|~", c);
}

/* The framing of a body, from the headers. */
struct head {
    int status;
    bool chunked;
    bool has_length;
    size_t length;
};

static int parse_status(const char *line, size_t len, int *status)
{
    /* HTTP/1.x SSS[ reason] */
    if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)line[7]) ||
        line[8] != ' ')
        return SB_EPROTO;
    int s = 0;
    for (int i = 9; i < 12; i++) {
        if (!isdigit((unsigned char)line[i]))
            return SB_EPROTO;
        s = s * 10 + (line[i] - '0');
    }
    if (len > 12 && line[12] != ' ')
        return SB_EPROTO;
    if (s < 100)
        return SB_EPROTO;
    *status = s;
    return 0;
}

static int parse_header(const char *line, size_t len, struct head *h)
{
    const char *colon = memchr(line, ':', len);
    if (!colon || colon == line)
        return SB_EPROTO;
    size_t nlen = (size_t)(colon - line);
    for (size_t i = 0; i < nlen; i++)
        if (!is_token_char(line[i]))
            return SB_EPROTO;
    const char *v = colon + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vlen = (size_t)(end - v);

    if (nlen == 14 && strncasecmp(line, "content-length", 14) == 0) {
        if (vlen == 0)
            return SB_EPROTO;
        size_t n = 0;
        for (size_t i = 0; i < vlen; i++) {
            if (!isdigit((unsigned char)v[i]) || n > HTTPC_MAX_RESPONSE)
                return SB_EPROTO;
            n = n * 10 + (size_t)(v[i] - '0');
        }
        if (h->has_length && h->length != n)
            return SB_EPROTO; /* two different lengths: a smuggling attempt or a broken server */
        h->has_length = true;
        h->length = n;
    } else if (nlen == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
        if (vlen == 7 && strncasecmp(v, "chunked", 7) == 0)
            h->chunked = true;
        else if (!(vlen == 8 && strncasecmp(v, "identity", 8) == 0))
            return SB_EPROTO; /* compressed codings are never asked for */
    }
    return 0;
}

static int set_body(struct httpc_response *r, const char *data, size_t len)
{
    free(r->body);
    r->body = malloc(len + 1);
    if (!r->body)
        return SB_ENOMEM;
    memcpy(r->body, data, len);
    r->body[len] = '\0';
    r->body_len = len;
    return 0;
}

/* Decodes a chunked body from buf[pos..end). Returns HTTPC_DONE, HTTPC_MORE or an error. */
static int dechunk(struct httpc_response *r, size_t pos, size_t end)
{
    char *out = malloc(end - pos + 1);
    size_t olen = 0;
    if (!out)
        return SB_ENOMEM;
    int rc = HTTPC_MORE;
    for (;;) {
        const char *line;
        size_t len;
        if (!next_line(r->buf, end, &pos, &line, &len))
            break;
        size_t size = 0, i = 0;
        for (; i < len && isxdigit((unsigned char)line[i]); i++) {
            if (size > HTTPC_MAX_RESPONSE) {
                rc = SB_EPROTO;
                goto out;
            }
            int d = line[i];
            size = size * 16 + (size_t)(isdigit(d) ? d - '0' : tolower(d) - 'a' + 10);
        }
        if (i == 0 || (i < len && line[i] != ';' && line[i] != ' ' && line[i] != '\t')) {
            rc = SB_EPROTO;
            goto out;
        }
        if (size == 0) {
            /* Trailers, up to an empty line. */
            for (;;) {
                if (!next_line(r->buf, end, &pos, &line, &len))
                    goto out;
                if (len == 0)
                    break;
            }
            rc = set_body(r, out, olen);
            if (rc == 0)
                rc = HTTPC_DONE;
            goto out;
        }
        if (end - pos < size + 1)
            break;
        memcpy(out + olen, r->buf + pos, size);
        olen += size;
        pos += size;
        /* The chunk's CRLF (or LF). */
        if (r->buf[pos] == '\r') {
            if (end - pos < 2)
                break;
            pos++;
        }
        if (r->buf[pos] != '\n') {
            rc = SB_EPROTO;
            goto out;
        }
        pos++;
    }
out:
    free(out);
    return rc;
}

/* Parses what was received. `eof`: the server closed the connection. */
static int parse(struct httpc_response *r, bool eof)
{
    size_t pos = 0;
    struct head h;
    for (;;) {
        memset(&h, 0, sizeof(h));
        const char *line;
        size_t len;
        if (!next_line(r->buf, r->len, &pos, &line, &len))
            return eof ? SB_EPROTO : HTTPC_MORE;
        int rc = parse_status(line, len, &h.status);
        if (rc)
            return rc;
        for (;;) {
            if (!next_line(r->buf, r->len, &pos, &line, &len))
                return eof ? SB_EPROTO : HTTPC_MORE;
            if (len == 0)
                break;
            if ((rc = parse_header(line, len, &h)))
                return rc;
        }
        if (h.status == 101)
            return SB_EPROTO;
        if (h.status >= 200)
            break;
        /* An interim answer (100 Continue): the real one follows. */
    }

    size_t avail = r->len - pos;
    int rc;
    if (h.status == 204 || h.status == 304) {
        rc = set_body(r, "", 0);
    } else if (h.chunked) {
        rc = dechunk(r, pos, r->len);
        if (rc == HTTPC_MORE && eof)
            rc = SB_EPROTO;
        if (rc != HTTPC_DONE)
            return rc;
        rc = 0;
    } else if (h.has_length) {
        if (avail < h.length)
            return eof ? SB_EPROTO : HTTPC_MORE;
        rc = set_body(r, r->buf + pos, h.length);
    } else {
        /* Delimited by the end of the connection (we asked for Connection: close). */
        if (!eof)
            return HTTPC_MORE;
        rc = set_body(r, r->buf + pos, avail);
    }
    if (rc)
        return rc;
    r->status = h.status;
    return HTTPC_DONE;
}

int httpc_response_feed(struct httpc_response *r, const char *data, size_t len)
{
    if (len > HTTPC_MAX_RESPONSE - r->len)
        return SB_ETOOBIG;
    if (r->len + len + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 1024;
        while (cap < r->len + len + 1)
            cap *= 2;
        char *buf = realloc(r->buf, cap);
        if (!buf)
            return SB_ENOMEM;
        r->buf = buf;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, len);
    r->len += len;
    r->buf[r->len] = '\0';
    return parse(r, false);
}

int httpc_response_eof(struct httpc_response *r)
{
    if (!r->buf)
        return SB_EPROTO;
    return parse(r, true);
}
