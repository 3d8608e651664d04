/*
 * Turning a token into an identity with the auth plugins. A token that no plugin accepts is
 * refused: a client that sends a token expects it to count, and a silent downgrade to an
 * anonymous socket would hide configuration mistakes. Tokens never reach the log.
 */
#include "net.h"

#include <stdlib.h>
#include <string.h>

#include "../log/log.h"

void net_authenticate(struct net *n, const char *token, const char *nsp,
                      struct identity_result *out)
{
    memset(out, 0, sizeof(*out));
    if (n->plugins->nauth == 0) {
        /* Nothing can check tokens: accept the connection as anonymous, as the seed's
         * unauthenticated sockets are. */
        out->outcome = AUTH_NONE;
        return;
    }
    struct sb_auth_req req = {.token = token, .nsp = nsp};
    enum auth_outcome o = plugins_authenticate(n->plugins, &req);
    out->outcome = o;
    if (o == AUTH_ACCEPTED) {
        out->user = req.user;
        out->claims = req.claims;
        req.user = NULL;
        req.claims = NULL;
    } else {
        out->outcome = AUTH_REFUSED;
        out->message = req.message ? req.message
                                   : strdup(o == AUTH_REFUSED ? "not authorized" : "invalid token");
        req.message = NULL;
    }
    auth_req_clear(&req);
}

void identity_result_clear(struct identity_result *r)
{
    free(r->user);
    json_decref(r->claims);
    free(r->message);
    memset(r, 0, sizeof(*r));
}
