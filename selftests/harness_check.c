// SPDX-License-Identifier: GPL-2.0
/*
 * The harness checked by itself (a host check, no module): a fixture's
 * teardown runs after a test that passes, one whose ASSERT fails, one whose
 * setup SKIPs and one whose thread's ASSERT fails elsewhere; the TAP says
 * ok, not ok and SKIP; the functions registered with harness_around() run
 * around each test, in order.  tools/testing/atomik-check host compares the output.
 */
#include <pthread.h>

#include "harness.h"

static void before(void)
{
	harness_diag("before");
}

static void after_first(void)
{
	harness_diag("after 1");
}

static void after_second(void)
{
	harness_diag("after 2");
}

__attribute__((constructor)) static void around(void)
{
	harness_around(before, after_first);
	harness_around(NULL, after_second);
}

FIXTURE(marker) {
	int set_up;
};

FIXTURE_SETUP(marker)
{
	self->set_up = 1;
}

FIXTURE_TEARDOWN(marker)
{
	harness_diag("teardown (set up: %d)", self->set_up);
}

TEST_F(marker, passes)
{
	ASSERT_EQ(self->set_up, 1);
}

TEST_F(marker, assert_fails)
{
	ASSERT_EQ(self->set_up, 2);
	harness_diag("not reached");
}

FIXTURE(skipping) {
	int set_up;
};

FIXTURE_SETUP(skipping)
{
	SKIP("setup skips");
	self->set_up = 1;
}

FIXTURE_TEARDOWN(skipping)
{
	harness_diag("teardown (set up: %d)", self->set_up);
}

TEST_F(skipping, skipped)
{
	harness_diag("not reached");
}

static void *failing_thread(void *arg)
{
	ASSERT_EQ(1, 2);
	return arg;
}

/* Another thread's fatal check ends the process: no teardown then. */
TEST_F(marker, thread_assert_fails)
{
	pthread_t t;

	pthread_create(&t, NULL, failing_thread, NULL);
	pthread_join(t, NULL);
	harness_diag("not reached");
}
