/*
 * Assertions that stay on in release builds.
 *
 * MP_ASSERT() guards arguments, results and invariants on every path; a
 * broken invariant is a programmer error, and continuing would corrupt
 * state that is persisted.  MP_DEBUG_ASSERT() is for checks too costly for
 * the hot path; it compiles away unless MP_DEBUG_ASSERTS is defined.
 */
#ifndef MP_ASSERT_H
#define MP_ASSERT_H

#ifdef __cplusplus
extern "C" {
#endif

/* C11 and C++ spell "does not return" differently; the shim is C++. */
#ifdef __cplusplus
#define MP_NORETURN [[noreturn]]
#define MP_STATIC_ASSERT static_assert
#else
#define MP_NORETURN _Noreturn
#define MP_STATIC_ASSERT _Static_assert
#endif

/* Prints "assertion failed: EXPR (file:line)" to stderr and aborts. */
MP_NORETURN void mp_assert_fail(const char *expression, const char *file, int line);

#define MP_ASSERT(condition)                                                \
    do {                                                                    \
        if (__builtin_expect(!(condition), 0))                              \
            mp_assert_fail(#condition, __FILE__, __LINE__);                 \
    } while (0)

#ifdef MP_DEBUG_ASSERTS
#define MP_DEBUG_ASSERT(condition) MP_ASSERT(condition)
#else
#define MP_DEBUG_ASSERT(condition) ((void)0)
#endif

#define mp_likely(x) __builtin_expect(!!(x), 1)
#define mp_unlikely(x) __builtin_expect(!!(x), 0)

#ifdef __cplusplus
}
#endif

#endif
