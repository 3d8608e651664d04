/*
 * --static directories: the longest mount prefix that matches the path, no way out of its
 * directory (".." segments refused, symlinks resolved and checked), index.html for a
 * directory, a type from the extension. lws sends the file.
 */
#include "internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libwebsockets.h>

static const char *mime_of(const char *path)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < ARRAY_SIZE(types); i++)
        if (strcmp(dot, types[i][0]) == 0)
            return types[i][1];
    return "application/octet-stream";
}

/* Resolves `uri` under a static mount into `out`. Returns 0, or an HTTP status. */
static int static_path(const struct config *cfg, const char *uri, char *out, size_t size)
{
    const struct config_static *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < cfg->nstatics; i++) {
        const struct config_static *s = &cfg->statics[i];
        size_t plen = strlen(s->prefix);
        while (plen > 1 && s->prefix[plen - 1] == '/')
            plen--;
        bool match = plen == 1 ? uri[0] == '/'
                               : strncmp(uri, s->prefix, plen) == 0 &&
                                     (uri[plen] == '/' || uri[plen] == '\0');
        if (match && plen >= best_len) {
            best = s;
            best_len = plen;
        }
    }
    if (!best)
        return 404;
    const char *rest = uri + (best_len == 1 ? 0 : best_len);
    /* No way out of the directory: refuse any ".." segment outright. */
    for (const char *p = rest; (p = strstr(p, "..")); p += 2)
        if ((p == rest || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
            return 403;
    char root[PATH_MAX], full[PATH_MAX];
    if (!realpath(best->dir, root))
        return 404;
    int len = snprintf(full, sizeof(full), "%s%s%s", root, *rest == '/' ? "" : "/", rest);
    if (len < 0 || (size_t)len >= sizeof(full))
        return 404;
    struct stat st;
    if (stat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t l = strlen(full);
        snprintf(full + l, sizeof(full) - l, "%sindex.html", full[l - 1] == '/' ? "" : "/");
    }
    /* The resolved file (symlinks followed) must still be inside the root: "/srv/www" must not
     * admit "/srv/www-private/x". */
    size_t rlen = strlen(root);
    if (!realpath(full, out) || strncmp(out, root, rlen) != 0 ||
        (out[rlen] != '/' && !(rlen == 1 && root[0] == '/')))
        return 404;
    if (stat(out, &st) != 0 || !S_ISREG(st.st_mode))
        return 404;
    (void)size;
    return 0;
}

int static_serve(struct net *n, struct lws *wsi, const char *uri)
{
    char path[PATH_MAX];
    int status = static_path(n->cfg, uri, path, sizeof(path));
    if (status == 0) {
        static const char conn_close[] = "connection: close\r\n";
        bool keep = http_keeps_alive(wsi);
        int rc = lws_serve_http_file(wsi, path, mime_of(path), keep ? NULL : conn_close,
                                     keep ? 0 : (int)sizeof(conn_close) - 1);
        if (rc < 0)
            return -1;
        if (rc > 0)
            return http_finish(wsi, 0);
        return 0; /* completes in LWS_CALLBACK_HTTP_FILE_COMPLETION */
    }
    if (status == 403)
        return http_finish(wsi, http_respond_message(wsi, 403, "forbidden", NULL, 0, false));
    return http_finish(wsi, http_respond_message(wsi, 404, "not found", NULL, 0, false));
}
