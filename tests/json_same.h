/*
 * For the adapter's tests and fuzz targets: two JSON values are the same when numbers compare
 * by value (the msgpack encoders write an integral real as an integer, since JavaScript does not
 * tell them apart) and everything else as json_equal() does. Header only: each test image
 * includes it once.
 */
#ifndef SB_TESTS_JSON_SAME_H
#define SB_TESTS_JSON_SAME_H

#include <stdbool.h>

#include <jansson.h>

static inline bool json_same(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_typeof(a) != json_typeof(b))
        return false;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++) {
            if (!json_same(json_array_get(a, i), json_array_get(b, i)))
                return false;
        }
        return true;
    }
    if (json_is_object(a)) {
        const char *key;
        size_t klen;
        json_t *v;
        if (json_object_size(a) != json_object_size(b))
            return false;
        json_object_keylen_foreach((json_t *)a, key, klen, v)
        {
            const json_t *w = json_object_getn(b, key, klen);
            if (!w || !json_same(v, w))
                return false;
        }
        return true;
    }
    return json_equal(a, b);
}

#endif
