/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small kselftest-style harness: each TEST() runs in its own child process
 * with a time limit, and the runner prints TAP.  A test fails through ASSERT_*
 * (stop now) or EXPECT_* (note and go on), and skips through SKIP().
 *
 * A program may declare variants, HARNESS_VARIANTS("ioctl", "uring"): every
 * test then runs once per variant (harness_variant names it; TAP names the
 * test VARIANT.NAME).  A program (or a header it includes) may register
 * functions the runner calls around every test, in itself, with
 * harness_around(before, after): befores in the order registered, afters
 * in the reverse, so that what a test changed is put back even when the
 * test failed or was killed.
 *
 * A group of tests may share a fixture (kselftest's names): FIXTURE(f) { the
 * fields }; FIXTURE_SETUP(f) and FIXTURE_TEARDOWN(f) get self, a zeroed
 * struct, and TEST_F(f, name) is a test of the group.  The teardown runs
 * after the test in the test's process, also when a fatal check (ASSERT_*,
 * SKIP) of the test's own thread stopped the setup or the test, so it must
 * cope with fields the setup did not reach (still zero).
 *
 *   prog               run every test (in every variant)
 *   prog -t NAME       run only NAME (may be repeated)
 *   prog -v VARIANT    run only that variant (may be repeated)
 *   prog -l            list the tests
 */
#ifndef ATOMIK_SELFTEST_HARNESS_H
#define ATOMIK_SELFTEST_HARNESS_H

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KSFT_SKIP	4

struct harness_test {
	const char *name;
	void (*fn)(void);
	struct harness_test *next;
};

static struct harness_test *harness_head, **harness_tail = &harness_head;
static int harness_failed;
static const char *const *harness_variants;	/* NULL-terminated, or NULL */
static const char *harness_variant;		/* the one running, or NULL */

#define HARNESS_MAX_AROUND	4
static void (*harness_befores[HARNESS_MAX_AROUND])(void);
static void (*harness_afters[HARNESS_MAX_AROUND])(void);
static int harness_nr_around;

/* Call before (may be NULL) before every test and after (may be NULL) after. */
static inline void harness_around(void (*before)(void), void (*after)(void))
{
	if (harness_nr_around == HARNESS_MAX_AROUND) {
		fprintf(stderr, "harness: more than %d harness_around()\n",
			HARNESS_MAX_AROUND);
		exit(1);
	}
	harness_befores[harness_nr_around] = before;
	harness_afters[harness_nr_around++] = after;
}

/*
 * Where a fatal check goes: to the running fixture test's teardown when
 * one is armed in this thread, else out of the test's process.
 */
static jmp_buf harness_bail_to;
static int harness_bail_armed, harness_bail_code;
static pthread_t harness_bail_thread;

static inline void __attribute__((noreturn)) harness_bail(int code)
{
	if (harness_bail_armed && pthread_equal(pthread_self(), harness_bail_thread)) {
		harness_bail_armed = 0;
		harness_bail_code = code;
		longjmp(harness_bail_to, 1);
	}
	fflush(stdout);
	_exit(code);
}

#define FIXTURE(f)	struct harness_fixture_##f
#define FIXTURE_SETUP(f)	\
	static void harness_setup_##f(struct harness_fixture_##f *self)
#define FIXTURE_TEARDOWN(f)	\
	static void harness_teardown_##f(struct harness_fixture_##f *self)

/* The fixture is static: nothing of it is lost across the longjmp(). */
#define TEST_F(f, n)							\
	static void test_f_##n(struct harness_fixture_##f *self);	\
	TEST(n)								\
	{								\
		static struct harness_fixture_##f fx;			\
									\
		harness_bail_thread = pthread_self();			\
		if (!setjmp(harness_bail_to)) {				\
			harness_bail_armed = 1;				\
			harness_setup_##f(&fx);				\
			test_f_##n(&fx);				\
		}							\
		harness_bail_armed = 0;					\
		harness_teardown_##f(&fx);				\
		if (harness_bail_code)					\
			harness_bail(harness_bail_code);		\
	}								\
	static void test_f_##n(struct harness_fixture_##f *self)

#define HARNESS_VARIANTS(...)						\
	static const char *const harness_variant_names[] = { __VA_ARGS__, NULL }; \
	__attribute__((constructor)) static void harness_reg_variants(void) \
	{								\
		harness_variants = harness_variant_names;		\
	}

#define TEST(n)								\
	static void test_##n(void);					\
	static struct harness_test harness_##n = { #n, test_##n, NULL };	\
	__attribute__((constructor)) static void harness_reg_##n(void)	\
	{								\
		*harness_tail = &harness_##n;				\
		harness_tail = &harness_##n.next;			\
	}								\
	static void test_##n(void)

static inline void harness_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

#define TH_LOG(...)	harness_diag(__VA_ARGS__)

#define harness_cmp(a, op, b, fatal) do {				\
	unsigned long long __a = (unsigned long long)(a);		\
	unsigned long long __b = (unsigned long long)(b);		\
	if (!(__a op __b)) {						\
		harness_diag("%s:%d: expected %s %s %s: 0x%llx vs 0x%llx (%lld vs %lld)", \
			     __FILE__, __LINE__, #a, #op, #b,		\
			     __a, __b, (long long)__a, (long long)__b);	\
		harness_failed = 1;					\
		if (fatal)						\
			harness_bail(1);				\
	}								\
} while (0)

#define ASSERT_EQ(a, b)	harness_cmp(a, ==, b, 1)
#define ASSERT_NE(a, b)	harness_cmp(a, !=, b, 1)
#define ASSERT_GE(a, b)	harness_cmp(a, >=, b, 1)
#define ASSERT_GT(a, b)	harness_cmp(a, >, b, 1)
#define ASSERT_LE(a, b)	harness_cmp(a, <=, b, 1)
#define EXPECT_EQ(a, b)	harness_cmp(a, ==, b, 0)
#define EXPECT_NE(a, b)	harness_cmp(a, !=, b, 0)
#define ASSERT_TRUE(c)	harness_cmp(!!(c), ==, 1, 1)
#define EXPECT_TRUE(c)	harness_cmp(!!(c), ==, 1, 0)

/* A system call that must succeed: on failure report errno and stop. */
#define ASSERT_OK(call) do {						\
	long __r = (long)(call);					\
	if (__r < 0) {							\
		harness_diag("%s:%d: %s failed: %s", __FILE__, __LINE__,	\
			     #call, strerror(errno));			\
		harness_bail(1);					\
	}								\
} while (0)

/* A call returning -1 with errno, which must fail with errno == e. */
#define ASSERT_ERRNO(call, e) do {					\
	long __r = (long)(call);					\
	if (__r != -1 || errno != (e)) {				\
		harness_diag("%s:%d: %s: expected -1/%s, got %ld/%s",	\
			     __FILE__, __LINE__, #call, strerror(e), __r,	\
			     __r == -1 ? strerror(errno) : "-");	\
		harness_bail(1);					\
	}								\
} while (0)

#define SKIP(...) do {							\
	harness_diag("SKIP: " __VA_ARGS__);				\
	harness_bail(KSFT_SKIP);					\
} while (0)

/* Is name among the -t (or, with opt 'v', -v) arguments, or are there none? */
static int harness_selected(const char *name, int argc, char **argv, char opt)
{
	char want[3] = { '-', opt, 0 };
	int i, any = 0;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], want) && i + 1 < argc) {
			any = 1;
			if (!strcmp(argv[++i], name))
				return 1;
		}
	}
	return !any;
}

/* Is name a word of the space-separated list? */
static int harness_listed(const char *name, const char *list)
{
	size_t n = strlen(name);
	const char *p = list;

	while (p && (p = strstr(p, name))) {
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
			return 1;
		p += n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const no_variants[] = { NULL, NULL };
	const char *const *variants = harness_variants ? harness_variants : no_variants;
	struct harness_test *t;
	int n = 0, i = 0, pass = 0, fail = 0, skip = 0, v, k;
	unsigned int limit = 300;
	const char *env = getenv("ATOMIK_TEST_TIMEOUT");
	char name[256];

	if (env)
		limit = strtoul(env, NULL, 0);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "-l")) {
		for (t = harness_head; t; t = t->next)
			printf("%s\n", t->name);
		return 0;
	}
	for (v = 0; v == 0 || variants[v]; v++)
		for (t = harness_head; t; t = t->next)
			n += harness_selected(t->name, argc, argv, 't') &&
			     (!variants[v] || harness_selected(variants[v], argc, argv, 'v'));

	printf("TAP version 13\n1..%d\n", n);
	for (v = 0; v == 0 || variants[v]; v++) {
		harness_variant = variants[v];
		if (harness_variant && !harness_selected(harness_variant, argc, argv, 'v'))
			continue;
		for (t = harness_head; t; t = t->next) {
			struct timespec t0, t1;
			int status;
			pid_t pid;

			if (!harness_selected(t->name, argc, argv, 't'))
				continue;
			i++;
			snprintf(name, sizeof(name), "%s%s%s", harness_variant ?: "",
				 harness_variant ? "." : "", t->name);
			/* ATOMIK_SKIP_TESTS: names a run leaves to another (run_tests.sh). */
			if (harness_listed(t->name, getenv("ATOMIK_SKIP_TESTS"))) {
				printf("ok %d %s # SKIP left to another run (ATOMIK_SKIP_TESTS)\n",
				       i, name);
				skip++;
				continue;
			}
			printf("# RUN %s\n", name);
			fflush(stdout);
			for (k = 0; k < harness_nr_around; k++)
				if (harness_befores[k])
					harness_befores[k]();
			clock_gettime(CLOCK_MONOTONIC, &t0);
			pid = fork();
			if (pid == 0) {
				alarm(limit);
				t->fn();
				fflush(stdout);
				_exit(harness_failed);
			}
			if (pid > 0 && waitpid(pid, &status, 0) < 0)
				pid = -1;
			clock_gettime(CLOCK_MONOTONIC, &t1);
			for (k = harness_nr_around - 1; k >= 0; k--)
				if (harness_afters[k])
					harness_afters[k]();
			printf("# %s: %.2f s\n", name, (t1.tv_sec - t0.tv_sec) +
			       (t1.tv_nsec - t0.tv_nsec) / 1e9);
			if (pid < 0) {
				printf("not ok %d %s # fork/wait failed\n", i, name);
				fail++;
			} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
				printf("ok %d %s\n", i, name);
				pass++;
			} else if (WIFEXITED(status) && WEXITSTATUS(status) == KSFT_SKIP) {
				printf("ok %d %s # SKIP\n", i, name);
				skip++;
			} else {
				if (WIFSIGNALED(status))
					harness_diag("killed by signal %d%s", WTERMSIG(status),
						     WTERMSIG(status) == SIGALRM ?
						     " (time limit)" : "");
				printf("not ok %d %s\n", i, name);
				fail++;
			}
		}
	}
	printf("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:%d error:0\n",
	       pass, fail, skip);
	return fail ? 1 : 0;
}

#endif
