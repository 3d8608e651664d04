/* Unit tests of the Redis engine's pure parts: redis:// URLs and the reconnect backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../server/bus/redis.h"

static void parses_full_and_short_urls(void **state)
{
    struct redis_url u;
    char err[128];
    assert_int_equal(redis_url_parse("redis://127.0.0.1:6390", &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6390);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.password, "");

    assert_int_equal(redis_url_parse("redis://:p@ss:w@rd@example.org/3", &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "example.org");
    assert_int_equal(u.port, 6379);
    assert_string_equal(u.password, "p@ss:w@rd");
    assert_int_equal(u.db, 3);

    assert_int_equal(redis_url_parse("redis://user:secret@[::1]:7000/0", &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 7000);
    assert_string_equal(u.password, "secret");

    assert_int_equal(redis_url_parse("redis://:a%40b%3Ac%25@h:1", &u, err, sizeof(err)), 0);
    assert_string_equal(u.password, "a@b:c%");

    assert_int_equal(redis_url_parse("redis://localhost", &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "localhost");
    assert_int_equal(u.port, 6379);
}

static void refuses_bad_urls_without_the_password(void **state)
{
    struct redis_url u;
    char err[128];
    const char *bad[] = {
        "http://127.0.0.1:6379", "redis://",        "redis://:pw@",
        "redis://h:0",           "redis://h:70000", "redis://h:12x",
        "redis://h/abc",         "redis://[::1",    "redis://:topsecret@h:99999",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(redis_url_parse(bad[i], &u, err, sizeof(err)), SB_EINVAL);
        assert_true(err[0] != '\0');
        assert_null(strstr(err, "topsecret"));
    }
}

static void backoff_doubles_to_the_cap_with_jitter(void **state)
{
    /* The delay lies in the upper half of min(cap, base * 2^attempt). */
    for (uint32_t attempt = 0; attempt < 40; attempt++) {
        uint64_t full = LINK_BACKOFF_BASE_MS;
        for (uint32_t i = 0; i < attempt && full < LINK_BACKOFF_CAP_MS; i++)
            full *= 2;
        if (full > LINK_BACKOFF_CAP_MS)
            full = LINK_BACKOFF_CAP_MS;
        for (uint32_t r = 0; r < 5000; r += 997) {
            uint64_t d = link_backoff_ms(attempt, r);
            assert_true(d >= full / 2);
            assert_true(d <= full);
        }
    }
    assert_int_equal(link_backoff_ms(0, 0), LINK_BACKOFF_BASE_MS / 2);
    assert_int_equal(link_backoff_ms(100, 0), LINK_BACKOFF_CAP_MS / 2);
    /* Different random inputs give different delays: the fleet does not reconnect at once. */
    assert_int_not_equal(link_backoff_ms(5, 1), link_backoff_ms(5, 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_full_and_short_urls),
        cmocka_unit_test(refuses_bad_urls_without_the_password),
        cmocka_unit_test(backoff_doubles_to_the_cap_with_jitter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
