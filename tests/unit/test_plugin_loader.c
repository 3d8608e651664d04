/*
 * Unit tests of the plugin loader against real shared objects: the shipped plugins and the
 * fixtures in tests/fixtures/plugins (wrong ABI major, bad magic, no descriptor, init failure,
 * an older minor with a smaller descriptor, ABI 1.0's exact descriptor, a plugin exporting more
 * than its descriptor).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../server/plugin/plugin.h"

static struct registry reg;
static struct bus bus;

static char *fixture(const char *name)
{
    static char path[4096];
    const char *dir = getenv("SB_BUILD_DIR");
    snprintf(path, sizeof(path), "%s/tests/fixtures/%s.so", dir ? dir : ".", name);
    return path;
}

static char *shipped(const char *name)
{
    static char path[4096];
    const char *dir = getenv("SB_BUILD_DIR");
    snprintf(path, sizeof(path), "%s/plugins/%s.so", dir ? dir : ".", name);
    return path;
}

static int setup(void **state)
{
    struct plugins *ps = calloc(1, sizeof(*ps));
    registry_init(&reg);
    bus_init_local(&bus, &reg);
    ps->bus = &bus;
    ps->reg = &reg;
    *state = ps;
    return 0;
}

static int teardown(void **state)
{
    plugins_unload(*state);
    free(*state);
    registry_free(&reg);
    return 0;
}

static void refuses_newer_major(void **state)
{
    assert_int_equal(plugins_load_one(*state, fixture("abi_major2"), NULL), SB_EABI);
    assert_int_equal(((struct plugins *)*state)->n, 0);
}

static void refuses_bad_magic(void **state)
{
    assert_int_equal(plugins_load_one(*state, fixture("bad_magic"), NULL), SB_EABI);
}

static void refuses_missing_descriptor(void **state)
{
    assert_int_equal(plugins_load_one(*state, fixture("no_entry"), NULL), SB_EABI);
}

static void refuses_missing_file(void **state)
{
    assert_int_equal(plugins_load_one(*state, "/nonexistent/x.so", NULL), SB_EIO);
}

static void reports_init_failure(void **state)
{
    assert_int_equal(plugins_load_one(*state, fixture("init_fails"), "cfg"), SB_EINVAL);
    assert_int_equal(((struct plugins *)*state)->n, 0);
}

static void loads_older_minor_without_hooks(void **state)
{
    struct plugins *ps = *state;
    assert_int_equal(plugins_load_one(ps, fixture("old_minor"), NULL), 0);
    struct plugin *p = plugins_find(ps, "old-minor");
    assert_non_null(p);
    assert_null(p->authenticate);
    assert_null(p->before_event);
    assert_null(p->after_reply);
    assert_int_equal(ps->nauth, 0);
}

static void loads_abi_1_0_with_interceptors_without_socket_hooks(void **state)
{
    struct plugins *ps = *state;
    assert_int_equal(plugins_load_one(ps, fixture("abi_1_0"), NULL), 0);
    struct plugin *p = plugins_find(ps, "abi-1-0");
    assert_non_null(p);
    assert_int_equal(p->desc->abi_minor, 0);
    assert_int_equal(p->desc->size, offsetof(sb_plugin_t, socket_connected));
    assert_non_null(p->before_event);
    assert_non_null(p->after_reply);
    assert_int_equal(p->intercept_priority, 42);
    assert_null(p->authenticate);
    /* The fixture puts non-NULL pointers right after its descriptor: they must not count. */
    assert_null(p->socket_connected);
    assert_null(p->socket_disconnected);
}

static bool has_name(char **names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], name) == 0)
            return true;
    return false;
}

static void counts_extra_exports(void **state)
{
    char *names[8];
    assert_int_equal(plugins_extra_exports(fixture("extra_exports"), names, 8), 2);
    assert_true(has_name(names, 8, "extra_helper"));
    assert_true(has_name(names, 8, "extra_counter"));
    assert_false(has_name(names, 8, SB_PLUGIN_SYMBOL));
    for (size_t i = 0; i < 8; i++)
        free(names[i]);

    /* More symbols than room: the full count, `max` names. */
    assert_int_equal(plugins_extra_exports(fixture("extra_exports"), names, 1), 2);
    assert_non_null(names[0]);
    free(names[0]);

    /* Only the descriptor (under ASan also __odr_asan.sb_plugin_entry, which is ignored). */
    assert_int_equal(plugins_extra_exports(shipped("propagate"), names, 8), 0);
    assert_int_equal(plugins_extra_exports(fixture("old_minor"), names, 8), 0);
    assert_int_equal(plugins_extra_exports(fixture("abi_1_0"), names, 8), 0);
    /* no_entry.so exports a function and no descriptor. */
    assert_int_equal(plugins_extra_exports(fixture("no_entry"), names, 8), 1);
    assert_string_equal(names[0], "not_a_plugin");
    free(names[0]);

    char text[4096];
    snprintf(text, sizeof(text), "%s/README.md", getenv("SB_SOURCE_DIR"));
    assert_int_equal(plugins_extra_exports(text, names, 8), SB_EINVAL);
    assert_int_equal(plugins_extra_exports("/nonexistent/x.so", names, 8), SB_EIO);
    assert_int_equal(plugins_extra_exports("/", names, 8), SB_EIO);
}

/* Loads `path` with stderr (the log) captured into `log`. */
static int load_capturing_log(struct plugins *ps, const char *path, char *log, size_t len)
{
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
    int rc = plugins_load_one(ps, path, NULL);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(log, 1, len - 1, tmp);
    log[n] = '\0';
    fclose(tmp);
    return rc;
}

static void warns_about_extra_exports_and_loads(void **state)
{
    struct plugins *ps = *state;
    char log[8192];
    const char *path = fixture("extra_exports");
    assert_int_equal(load_capturing_log(ps, path, log, sizeof(log)), 0);
    assert_non_null(plugins_find(ps, "extra-exports"));
    const char *warn = strstr(log, "warn ");
    assert_non_null(warn);
    assert_non_null(strstr(warn, path));
    assert_non_null(strstr(warn, "exports 2 symbols besides sb_plugin_entry"));
    assert_non_null(strstr(warn, "extra_helper"));

    /* A plugin that exports only its descriptor loads without a warning. */
    assert_int_equal(load_capturing_log(ps, shipped("propagate"), log, sizeof(log)), 0);
    assert_null(strstr(log, "warn "));
    assert_non_null(strstr(log, "loaded propagate"));
}

static void loads_shipped_plugins_and_refuses_duplicates(void **state)
{
    struct plugins *ps = *state;
    assert_int_equal(plugins_load_one(ps, shipped("propagate"), NULL), 0);
    assert_non_null(plugins_find(ps, "propagate")->after_reply);
    assert_int_equal(plugins_load_one(ps, shipped("propagate"), NULL), SB_EEXISTS);
    /* propagate takes no CONFIG: init refuses. */
    struct plugins other = {.bus = &bus, .reg = &reg};
    assert_int_equal(plugins_load_one(&other, shipped("propagate"), "x"), SB_EINVAL);
    plugins_unload(&other);
}

static void resolves_names_and_paths(void **state)
{
    char *p = plugins_resolve("dir/x.so", NULL, NULL);
    assert_string_equal(p, "dir/x.so");
    free(p);
    const char *dir = getenv("SB_BUILD_DIR");
    p = plugins_resolve("propagate", NULL, dir);
    assert_non_null(p);
    assert_non_null(strstr(p, "/plugins/propagate.so"));
    free(p);
    assert_null(plugins_resolve("no-such-plugin", "/nonexistent", "/nonexistent"));
}

static void static_auth_accepts_declines(void **state)
{
    struct plugins *ps = *state;
    char tokens[4096];
    snprintf(tokens, sizeof(tokens), "%s/examples/demo/tokens.txt", getenv("SB_SOURCE_DIR"));
    assert_int_equal(plugins_load_one(ps, shipped("auth-static"), tokens), 0);
    struct sb_auth_req req = {.token = "alice-token", .nsp = "/"};
    assert_int_equal(plugins_authenticate(ps, &req), AUTH_ACCEPTED);
    assert_string_equal(req.user, "alice");
    auth_req_clear(&req);
    req = (struct sb_auth_req){.token = "unknown", .nsp = "/"};
    assert_int_equal(plugins_authenticate(ps, &req), AUTH_NONE);
    auth_req_clear(&req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(refuses_newer_major, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_bad_magic, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_missing_descriptor, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(reports_init_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(loads_older_minor_without_hooks, setup, teardown),
        cmocka_unit_test_setup_teardown(loads_abi_1_0_with_interceptors_without_socket_hooks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(counts_extra_exports, setup, teardown),
        cmocka_unit_test_setup_teardown(warns_about_extra_exports_and_loads, setup, teardown),
        cmocka_unit_test_setup_teardown(loads_shipped_plugins_and_refuses_duplicates, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(resolves_names_and_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(static_auth_accepts_declines, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
