/*
 * test_values.c - duration and size syntax (src/config/values.c).
 */
#include "helpers.h"

static void test_durations(void **state)
{
    static const struct {
        const char *text;
        uint64_t ms;
    } good[] = {
        {"0", 0},        {"0s", 0},        {"250ms", 250},         {"5s", 5000},   {"1m", 60000},
        {"2h", 7200000}, {"1m30s", 90000}, {"1h1m1s1ms", 3661001}, {"007s", 7000}, {"1500ms", 1500},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint64_t ms = 12345;
        assert_int_equal(cfg_parse_duration(good[i].text, &ms), 0);
        assert_int_equal(ms, good[i].ms);
    }
}

static void test_bad_durations(void **state)
{
    static const char *const bad[] = {"",
                                      "5",
                                      "s",
                                      "5 s",
                                      " 5s",
                                      "5s ",
                                      "-5s",
                                      "5d",
                                      "5S",
                                      "1.5s",
                                      "5sec",
                                      "ms",
                                      "99999999999999999999ms",
                                      "9999999999999999h"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t ms = 777;
        if (cfg_parse_duration(bad[i], &ms) != -1)
            fail_msg("'%s' was accepted as a duration", bad[i]);
        assert_int_equal(ms, 777);
    }
}

static void test_sizes(void **state)
{
    static const struct {
        const char *text;
        uint64_t bytes;
    } good[] = {
        {"0", 0},          {"8192", 8192},     {"64k", 65536},        {"64K", 65536},
        {"10m", 10485760}, {"1g", 1073741824}, {"4g", 4294967296ull},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint64_t bytes = 1;
        assert_int_equal(cfg_parse_size(good[i].text, &bytes), 0);
        assert_int_equal(bytes, good[i].bytes);
    }
}

static void test_bad_sizes(void **state)
{
    static const char *const bad[] = {"",
                                      "k",
                                      "10kb",
                                      "10 k",
                                      "-1",
                                      "1.5m",
                                      "1t",
                                      "0x10",
                                      "18446744073709551616",
                                      "17179869184g"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t bytes = 777;
        if (cfg_parse_size(bad[i], &bytes) != -1)
            fail_msg("'%s' was accepted as a size", bad[i]);
        assert_int_equal(bytes, 777);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_bad_durations),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_bad_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
