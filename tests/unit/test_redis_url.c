/* Unit tests of the Redis engine's pure parts: redis:// and redis+sentinel:// URLs, the
 * sentinels' +switch-master messages, and the reconnect backoff. */
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

static void parses_sentinel_urls(void **state)
{
    struct sentinel_url u;
    char err[128];
    assert_true(redis_url_is_sentinel("redis+sentinel://h/m"));
    assert_false(redis_url_is_sentinel("redis://h/0"));

    assert_int_equal(
        sentinel_url_parse("redis+sentinel://127.0.0.1:26380,127.0.0.1,[::1]:7/mymaster", &u, err,
                           sizeof(err)),
        0);
    assert_int_equal(u.nsentinels, 3);
    assert_string_equal(u.sentinels[0].host, "127.0.0.1");
    assert_int_equal(u.sentinels[0].port, 26380);
    assert_string_equal(u.sentinels[1].host, "127.0.0.1");
    assert_int_equal(u.sentinels[1].port, SENTINEL_DEFAULT_PORT);
    assert_string_equal(u.sentinels[2].host, "::1");
    assert_int_equal(u.sentinels[2].port, 7);
    assert_string_equal(u.master, "mymaster");
    assert_string_equal(u.password, "");
    assert_int_equal(u.db, 0);

    assert_int_equal(
        sentinel_url_parse("redis+sentinel://user:p%40ss@s1:1,s2:2/m-1/5", &u, err, sizeof(err)),
        0);
    assert_int_equal(u.nsentinels, 2);
    assert_string_equal(u.sentinels[1].host, "s2");
    assert_string_equal(u.password, "p@ss");
    assert_string_equal(u.master, "m-1");
    assert_int_equal(u.db, 5);

    /* Eight sentinels is the most. */
    assert_int_equal(sentinel_url_parse("redis+sentinel://a,b,c,d,e,f,g,h/m", &u, err, sizeof(err)),
                     0);
    assert_int_equal(u.nsentinels, SENTINEL_MAX);
    assert_string_equal(u.sentinels[7].host, "h");
}

static void refuses_bad_sentinel_urls_without_the_password(void **state)
{
    struct sentinel_url u;
    char err[128];
    const char *bad[] = {
        "redis://h:1/m",
        "redis+sentinel://",
        "redis+sentinel://h:1",
        "redis+sentinel://h:1/",
        "redis+sentinel://h:1,/m",
        "redis+sentinel://,h:1/m",
        "redis+sentinel://h:0/m",
        "redis+sentinel://h:1,h:70000/m",
        "redis+sentinel://a,b,c,d,e,f,g,h,i/m",
        "redis+sentinel://h/m/x",
        "redis+sentinel://h/m/1x",
        "redis+sentinel://:topsecret@h:99999/m",
        "redis+sentinel://:topsecret@/m",
        "redis+sentinel://:topsecret@h/",
        "redis+sentinel://[::1/m",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(sentinel_url_parse(bad[i], &u, err, sizeof(err)), SB_EINVAL);
        assert_true(err[0] != '\0');
        assert_null(strstr(err, "topsecret"));
    }
    /* A control character in the master's name. */
    assert_int_equal(sentinel_url_parse("redis+sentinel://h/m\tx", &u, err, sizeof(err)),
                     SB_EINVAL);
}

static void reads_switch_master_messages(void **state)
{
    char host[64];
    int port = 0;
    const char *m = "mymaster 127.0.0.1 6379 10.0.0.6 6380";
    assert_int_equal(sentinel_switch_parse(m, strlen(m), "mymaster", host, sizeof(host), &port), 0);
    assert_string_equal(host, "10.0.0.6");
    assert_int_equal(port, 6380);
    m = "other 127.0.0.1 6379 10.0.0.6 6380";
    assert_int_equal(sentinel_switch_parse(m, strlen(m), "mymaster", host, sizeof(host), &port), 1);
    /* A name that only starts like ours is another master. */
    m = "mymaster2 127.0.0.1 6379 10.0.0.6 6380";
    assert_int_equal(sentinel_switch_parse(m, strlen(m), "mymaster", host, sizeof(host), &port), 1);
    const char *bad[] = {
        "",
        "mymaster 127.0.0.1 6379 10.0.0.6",
        "mymaster 127.0.0.1 6379 10.0.0.6 6380 x",
        "mymaster 127.0.0.1 6379 10.0.0.6 0",
        "mymaster 127.0.0.1 6379 10.0.0.6 65536",
        "mymaster 127.0.0.1 6379 10.0.0.6 63x",
        "mymaster 127.0.0.1  6379 10.0.0.6 6380",
        "mymaster 127.0.0.1 6379 10.0.0.6 6380 ",
        "mymaster 127.0.0.1 6379 "
        "a-host-name-longer-than-the-buffer-of-this-test-which-is-64-bytes-long 1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(
            sentinel_switch_parse(bad[i], strlen(bad[i]), "mymaster", host, sizeof(host), &port),
            SB_EINVAL);
    assert_int_equal(sentinel_port_parse("26379", 5), 26379);
    assert_int_equal(sentinel_port_parse("", 0), -1);
    assert_int_equal(sentinel_port_parse("123456", 6), -1);
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
        cmocka_unit_test(parses_sentinel_urls),
        cmocka_unit_test(refuses_bad_sentinel_urls_without_the_password),
        cmocka_unit_test(reads_switch_master_messages),
        cmocka_unit_test(backoff_doubles_to_the_cap_with_jitter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
