/* Unit tests of the registry: sockets by id, rooms, users, broadcasts with excepts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../server/registry/registry.h"

struct fixture {
    struct registry reg;
    struct nsp *nsp;
    struct conn *conn;
    struct sock *s[6];
    int created, deleted; /* room callbacks */
};

static void room_cb(void *ud, const struct nsp *nsp, const char *room, bool exists)
{
    struct fixture *f = ud;
    if (exists)
        f->created++;
    else
        f->deleted++;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    registry_init(&f->reg);
    f->reg.room_cb = room_cb;
    f->reg.room_ud = f;
    f->nsp = registry_nsp(&f->reg, "/", true);
    f->conn = conn_new(NULL, CONN_SIO, 1 << 20);
    for (int i = 0; i < 6; i++) {
        f->s[i] = sock_new(f->conn);
        assert_int_equal(registry_sock_add(&f->reg, f->nsp, f->s[i]), 0);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < 6; i++)
        registry_sock_remove(&f->reg, f->s[i]);
    conn_free(f->conn);
    registry_free(&f->reg);
    free(f);
    return 0;
}

struct visit {
    struct sock *seen[16];
    int n;
};

static void visit_cb(struct sock *s, void *ud)
{
    struct visit *v = ud;
    v->seen[v->n++] = s;
}

static bool visited(const struct visit *v, const struct sock *s)
{
    for (int i = 0; i < v->n; i++)
        if (v->seen[i] == s)
            return true;
    return false;
}

static void finds_sockets_by_id(void **state)
{
    struct fixture *f = *state;
    assert_ptr_equal(registry_sock_find(f->nsp, f->s[3]->id), f->s[3]);
    assert_null(registry_sock_find(f->nsp, "nope"));
    assert_int_equal(f->nsp->nsocks, 6);
    assert_int_equal(registry_sock_add(&f->reg, f->nsp, f->s[3]), SB_EEXISTS);
}

static void join_leave_and_room_lifetime(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(registry_join(&f->reg, f->s[0], "r"), 0);
    assert_int_equal(registry_join(&f->reg, f->s[0], "r"), 0); /* twice is a no-op */
    assert_int_equal(registry_join(&f->reg, f->s[1], "r"), 0);
    assert_int_equal(registry_room_size(f->nsp, "r"), 2);
    assert_int_equal(f->created, 1);
    assert_true(registry_in_room(f->s[0], "r"));
    assert_true(registry_in_room(f->s[0], f->s[0]->id)); /* a socket is in its own room */
    assert_false(registry_in_room(f->s[2], "r"));
    assert_int_equal(registry_leave(&f->reg, f->s[0], "r"), 0);
    assert_int_equal(registry_leave(&f->reg, f->s[0], "r"), 0);
    assert_int_equal(registry_room_size(f->nsp, "r"), 1);
    assert_int_equal(f->deleted, 0);
    registry_sock_remove(&f->reg, f->s[1]); /* leaving by disconnecting */
    assert_int_equal(registry_room_size(f->nsp, "r"), 0);
    assert_null(registry_room_find(f->nsp, "r"));
    assert_int_equal(f->deleted, 1);
    assert_null(registry_sock_find(f->nsp, f->s[1]->id));
    assert_int_equal(registry_join(&f->reg, f->s[2], ""), SB_EINVAL);
}

static void broadcast_to_all_minus_except(void **state)
{
    struct fixture *f = *state;
    registry_join(&f->reg, f->s[4], "user:u");
    registry_join(&f->reg, f->s[5], "user:u");
    const char *except[] = {"user:u", f->s[0]->id};
    struct visit v = {0};
    size_t n = registry_each(&f->reg, f->nsp, NULL, 0, except, 2, visit_cb, &v);
    assert_int_equal(n, 3);
    assert_true(visited(&v, f->s[1]) && visited(&v, f->s[2]) && visited(&v, f->s[3]));
    assert_false(visited(&v, f->s[0]) || visited(&v, f->s[4]) || visited(&v, f->s[5]));
}

static void broadcast_to_rooms_visits_each_socket_once(void **state)
{
    struct fixture *f = *state;
    registry_join(&f->reg, f->s[0], "a");
    registry_join(&f->reg, f->s[1], "a");
    registry_join(&f->reg, f->s[1], "b");
    registry_join(&f->reg, f->s[2], "b");
    registry_join(&f->reg, f->s[2], "c");
    const char *rooms[] = {"a", "b", f->s[3]->id, "missing"};
    const char *except[] = {"c"};
    struct visit v = {0};
    size_t n = registry_each(&f->reg, f->nsp, rooms, 4, except, 1, visit_cb, &v);
    /* s1 is in a and b but is visited once; s2 is excepted through room c; s3 by its id. */
    assert_int_equal(n, 3);
    assert_int_equal(v.n, 3);
    assert_true(visited(&v, f->s[0]) && visited(&v, f->s[1]) && visited(&v, f->s[3]));
    assert_false(visited(&v, f->s[2]));
    /* A second broadcast sees fresh stamps. */
    struct visit v2 = {0};
    assert_int_equal(registry_each(&f->reg, f->nsp, rooms, 2, NULL, 0, visit_cb, &v2), 3);
}

static void namespaces_are_separate(void **state)
{
    struct fixture *f = *state;
    struct nsp *admin = registry_nsp(&f->reg, "/admin", true);
    assert_non_null(admin);
    assert_ptr_equal(registry_nsp(&f->reg, "/admin", false), admin);
    assert_null(registry_nsp(&f->reg, "/none", false));
    struct visit v = {0};
    assert_int_equal(registry_each(&f->reg, admin, NULL, 0, NULL, 0, visit_cb, &v), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(finds_sockets_by_id, setup, teardown),
        cmocka_unit_test_setup_teardown(join_leave_and_room_lifetime, setup, teardown),
        cmocka_unit_test_setup_teardown(broadcast_to_all_minus_except, setup, teardown),
        cmocka_unit_test_setup_teardown(broadcast_to_rooms_visits_each_socket_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(namespaces_are_separate, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
