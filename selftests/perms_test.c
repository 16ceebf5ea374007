// SPDX-License-Identifier: GPL-2.0
/*
 * Who may do what: the device node's permissions, read-only descriptors, and
 * the ownership of tables, checked as other users.
 */
#include <grp.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "util.h"

TRANSPORT_VARIANTS

#define USER_A	1000
#define USER_B	1001
/* Where a child writes what it tells the parent: clear of any open file. */
#define PIPE_FD	50

/* Run fn as uid (in a child), returning its exit status. */
/*
 * Run fn in a child that is uid with gid as its group (and only group when
 * member, none else): the exit status of the child, 99 if it could not
 * become so.
 */
static int as_ids(uid_t uid, gid_t gid, bool member, void (*fn)(void *), void *arg)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		if (setgroups(member ? 1 : 0, &gid) || setgid(gid) || setuid(uid))
			_exit(99);
		fn(arg);
		_exit(harness_failed);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A user of the same number for both, in no group. */
static int as_user(uid_t uid, void (*fn)(void *), void *arg)
{
	return as_ids(uid, uid, false, fn, arg);
}

static void try_open(void *arg)
{
	struct atomik *a;

	ASSERT_EQ(atomik_open(&a, NULL, O_RDONLY), -EACCES);
	ASSERT_EQ(atomik_open(&a, NULL, O_RDWR), -EACCES);
}

TEST(node_is_root_only_by_default)
{
	struct stat st;

	if (getuid() != 0)
		SKIP("needs root");
	ASSERT_OK(stat(DEV, &st));
	ASSERT_EQ(st.st_mode & 0777, 0600);
	ASSERT_EQ(st.st_uid, 0);
	ASSERT_EQ(as_user(USER_A, try_open, NULL), 0);
}

struct shared {
	uint32_t root_table;
	uint32_t a_table;
};

/* User A: its own table is its to write; root's is read-only to it. */
static void user_a(void *arg)
{
	struct shared *sh = arg;
	struct atomik *a = open_dev(O_RDWR);
	uint64_t v;

	/* Table 0 is shared by everyone who may open the device. */
	ASSERT_EQ(x_accum(a, 0, 0xA), 0);
	ASSERT_EQ(atomik_table_create(a, 16, ATOMIK_TABLE_SELECT, &sh->a_table), 0);
	ASSERT_EQ(x_load(a, 1, 0xAAAA), 0);

	ASSERT_EQ(atomik_table_select(a, sh->root_table), 0);
	ASSERT_EQ(x_read(a, 1, &v), 0);
	ASSERT_EQ(v, 0x1111);
	ASSERT_EQ(x_accum(a, 1, 1), -EPERM);
	ASSERT_EQ(x_load(a, 1, 1), -EPERM);
	ASSERT_EQ(x_swap(a, 1, 1, &v), -EPERM);
	struct atomik_delta d = { .addr = 1, .delta = 1 };
	struct atomik_op op = { .opcode = ATOMIK_OP_ACCUM, .addr = 1, .value = 1 };
	struct atomik_op rd = { .opcode = ATOMIK_OP_READ, .addr = 1 };

	ASSERT_EQ(x_accum_batch(a, &d, 1), -EPERM);
	ASSERT_EQ(x_op_batch(a, &op, 1), -EPERM);
	ASSERT_EQ(x_op_batch(a, &rd, 1), 0);
	ASSERT_EQ(rd.result, 0x1111);
	ASSERT_EQ(atomik_table_destroy(a, sh->root_table), -EPERM);
	x_close(a);
	/* The child's table id goes back to the parent through a pipe. */
	ASSERT_EQ(write(PIPE_FD, &sh->a_table, sizeof(sh->a_table)), sizeof(sh->a_table));
}

/* User A again, in another process: same owner, so it may write. */
static void user_a_again(void *arg)
{
	struct shared *sh = arg;
	struct atomik *a = open_dev(O_RDWR);

	ASSERT_EQ(atomik_table_select(a, sh->a_table), 0);
	ASSERT_EQ(x_accum(a, 1, 0x0001), 0);
	x_close(a);
}

/* User B may read A's table but neither write nor destroy it. */
static void user_b(void *arg)
{
	struct shared *sh = arg;
	struct atomik *a = open_dev(O_RDWR);
	uint64_t v;

	ASSERT_EQ(atomik_table_select(a, sh->a_table), 0);
	ASSERT_EQ(x_read(a, 1, &v), 0);
	ASSERT_EQ(v, 0xAAAB);
	ASSERT_EQ(x_accum(a, 1, 1), -EPERM);
	ASSERT_EQ(atomik_table_destroy(a, sh->a_table), -EPERM);
	x_close(a);
}

TEST(tables_belong_to_their_creator)
{
	struct shared sh;
	struct atomik *root;
	uint64_t v, t0;
	int p[2];

	if (getuid() != 0)
		SKIP("needs root");
	root = open_dev(O_RDWR);
	ASSERT_EQ(atomik_table_create(root, 16, ATOMIK_TABLE_SELECT, &sh.root_table), 0);
	ASSERT_EQ(x_load(root, 1, 0x1111), 0);
	ASSERT_EQ(atomik_table_select(root, 0), 0);
	ASSERT_EQ(x_load(root, 0, 0), 0);

	ASSERT_OK(chmod(DEV, 0666));
	ASSERT_OK(pipe(p));
	ASSERT_OK(dup2(p[1], PIPE_FD));
	ASSERT_EQ(as_user(USER_A, user_a, &sh), 0);
	close(PIPE_FD);
	ASSERT_EQ(read(p[0], &sh.a_table, sizeof(sh.a_table)), sizeof(sh.a_table));
	ASSERT_EQ(as_user(USER_A, user_a_again, &sh), 0);
	ASSERT_EQ(as_user(USER_B, user_b, &sh), 0);
	ASSERT_OK(chmod(DEV, 0600));

	/* Root's table is unchanged; A's delta to table 0 is there. */
	t0 = state(root, 0);
	ASSERT_EQ(t0, 0xA);
	ASSERT_EQ(atomik_table_select(root, sh.root_table), 0);
	ASSERT_EQ(state(root, 1), 0x1111);
	/* CAP_SYS_ADMIN may write and destroy anyone's table. */
	ASSERT_EQ(atomik_table_select(root, sh.a_table), 0);
	ASSERT_EQ(x_accum(root, 1, 0xF000), 0);
	ASSERT_EQ(x_read(root, 1, &v), 0);
	ASSERT_EQ(v, 0xAAAB ^ 0xF000);
	ASSERT_EQ(atomik_table_destroy(root, sh.a_table), 0);
	ASSERT_EQ(atomik_table_destroy(root, sh.root_table), 0);
	x_close(root);
	close(p[0]);
	close(p[1]);
}

/*
 * A replicated table's remote row is set only through a descriptor that
 * may write the table (its creator's, or CAP_SYS_ADMIN's), by a caller with
 * CAP_SYS_ADMIN, and read by anyone.
 */
static uint32_t repl_table;

static void user_b_remote(void *arg)
{
	struct atomik *a = open_dev(O_RDWR);
	uint64_t v[2] = { 0xB, 0xB };

	ASSERT_EQ(atomik_table_select(a, repl_table), 0);
	ASSERT_EQ(x_remote_set(a, 0, 2, v), -EPERM);
	ASSERT_EQ(x_remote_read(a, 0, 2, v), 0);
	ASSERT_EQ(v[0], 0x5);
	ASSERT_EQ(v[1], 0x6);
	x_close(a);
}

TEST(remote_row_is_written_by_table_writers)
{
	uint64_t v[2] = { 0x5, 0x6 };
	struct atomik *root;

	if (getuid() != 0)
		SKIP("needs root");
	root = open_dev(O_RDWR);
	ASSERT_EQ(atomik_table_create(root, 4, ATOMIK_TABLE_SELECT | ATOMIK_TABLE_REPLICATED,
				      &repl_table), 0);
	ASSERT_EQ(x_remote_set(root, 0, 2, v), 0);
	ASSERT_OK(chmod(DEV, 0666));
	ASSERT_EQ(as_user(USER_B, user_b_remote, NULL), 0);
	ASSERT_OK(chmod(DEV, 0600));
	ASSERT_EQ(state(root, 0), 0x5);
	ASSERT_EQ(state(root, 1), 0x6);
	ASSERT_EQ(atomik_table_destroy(root, repl_table), 0);
	x_close(root);
}

/*
 * A descriptor opened by user A and then used by user B keeps A's rights: the
 * opener's credentials count, not the caller's.  The child opens as A while
 * keeping root as its saved uid, then becomes B for good.
 */
static void opened_by_a_used_by_b(void)
{
	struct atomik_table_req req = { .nr_addrs = 4, .flags = ATOMIK_TABLE_SELECT };
	struct atomik_xfer x = { .addr = 2, .value = 0x20 };
	struct atomik *b;
	int fd, ro;

	ASSERT_OK(setgroups(0, NULL));
	ASSERT_OK(setresgid(USER_A, USER_A, 0));
	ASSERT_OK(setresuid(USER_A, USER_A, 0));
	fd = open(DEV, O_RDWR);
	ro = open(DEV, O_RDONLY);
	ASSERT_OK(fd);
	ASSERT_OK(ro);
	ASSERT_OK(ioctl(fd, ATOMIK_IOC_TABLE_CREATE, &req));
	ASSERT_OK(seteuid(0));
	ASSERT_OK(setresgid(USER_B, USER_B, USER_B));
	ASSERT_OK(setresuid(USER_B, USER_B, USER_B));

	ASSERT_OK(ioctl(fd, ATOMIK_IOC_ACCUM, &x));
	ASSERT_ERRNO(ioctl(ro, ATOMIK_IOC_ACCUM, &x), EBADF);
	/* B's own descriptor on the same table has only B's rights. */
	b = open_dev(O_RDWR);
	ASSERT_EQ(atomik_table_select(b, req.table_id), 0);
	ASSERT_EQ(x_accum(b, 2, 1), -EPERM);
	ASSERT_EQ(state(b, 2), 0x20);
	ASSERT_EQ(atomik_table_destroy(b, req.table_id), -EPERM);
	req.flags = 0;
	req.nr_addrs = 0;
	ASSERT_OK(ioctl(fd, ATOMIK_IOC_TABLE_DESTROY, &req));
	x_close(b);
}

TEST(passed_descriptor_keeps_opener_rights)
{
	int status;
	pid_t pid;

	if (getuid() != 0)
		SKIP("needs root");
	ASSERT_OK(chmod(DEV, 0666));
	pid = fork();
	if (pid == 0) {
		opened_by_a_used_by_b();
		_exit(harness_failed);
	}
	ASSERT_OK(waitpid(pid, &status, 0));
	ASSERT_OK(chmod(DEV, 0600));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_EQ(sysfs_u64("nr_tables"), 1);
}

/*
 * REMOTE_SET needs CAP_SYS_ADMIN of its caller, whatever else may write the
 * table: the remote row is the cluster daemon's, which runs as root.  A
 * member of the device's group (the packaged udev rule's group atomik, mode
 * 0660), which opens the device and writes its own replicated table, gets
 * -EPERM from REMOTE_SET on that table and the row stays as root set it.
 * In a guest whose devtmpfs left the node root's alone (mode 0600), the
 * test makes it what the rule would, with a group of its own, and puts it
 * back after.  Before the fix the member set the row.
 */
#define MEMBER_UID	65534	/* nobody */
#define MEMBER_GID	1002	/* the guest has no group atomik */

FIXTURE(member) {
	struct stat node;	/* the node as it was */
	int changed;
	gid_t gid;		/* the device's group */
	/* What the children and the test tell each other. */
	struct member_shared {
		uint32_t id;	/* the member's replicated table */
	} *sh;
};

FIXTURE_SETUP(member)
{
	struct stat st;

	if (getuid() != 0)
		SKIP("needs root");
	ASSERT_OK(stat(DEV, &self->node));
	if ((self->node.st_mode & 0060) != 0060 || self->node.st_gid == 0) {
		self->changed = 1;
		ASSERT_OK(chown(DEV, -1, MEMBER_GID));
		ASSERT_OK(chmod(DEV, 0660));
	}
	ASSERT_OK(stat(DEV, &st));
	if ((st.st_mode & 0060) != 0060 || st.st_gid == 0)
		SKIP("%s is not accessible to a group (mode %o, group %u)", DEV,
		     st.st_mode & 07777, st.st_gid);
	self->gid = st.st_gid;
	self->sh = mmap(NULL, sizeof(*self->sh), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(self->sh != MAP_FAILED);
	self->sh->id = 0;
}

FIXTURE_TEARDOWN(member)
{
	struct atomik *root;

	if (self->sh && self->sh != MAP_FAILED && self->sh->id &&
	    atomik_open(&root, NULL, O_RDWR) == 0) {
		atomik_table_destroy(root, self->sh->id);
		atomik_close(root);
	}
	if (self->changed) {
		chown(DEV, self->node.st_uid, self->node.st_gid);
		chmod(DEV, self->node.st_mode & 07777);
	}
}

/*
 * Run fn in a child that opened nothing of the device and is the member:
 * MEMBER_UID, with gid as its only group.
 */
static int as_member(gid_t gid, void (*fn)(void *), void *arg)
{
	return as_ids(MEMBER_UID, gid, true, fn, arg);
}

static const uint64_t member_remote[4] = { 0x5, 0x6, 0x7, 0x8 };

/* The member makes a replicated table, its own. */
static void member_creates(void *arg)
{
	struct member_shared *sh = arg;
	struct atomik *a = open_dev(O_RDWR);

	ASSERT_EQ(atomik_table_create(a, 4, ATOMIK_TABLE_REPLICATED, &sh->id), 0);
	x_close(a);
}

/*
 * The member writes its table and table 0, but not the remote row: not
 * even the same values again, nor a range the request gets wrong.
 */
static void member_tries(void *arg)
{
	struct member_shared *sh = arg;
	struct atomik *a = open_dev(O_RDWR);
	uint64_t v[4] = { 0xB, 0xB, 0xB, 0xB }, before, after;

	ASSERT_EQ(x_read(a, 0, &before), 0);
	ASSERT_EQ(x_accum(a, 0, 0xA0), 0);
	ASSERT_EQ(x_read(a, 0, &after), 0);
	ASSERT_EQ(after, before ^ 0xA0);
	ASSERT_EQ(x_accum(a, 0, 0xA0), 0);

	ASSERT_EQ(atomik_table_select(a, sh->id), 0);
	ASSERT_EQ(x_accum(a, 1, 0x10), 0);
	ASSERT_EQ(x_remote_set(a, 0, 4, v), -EPERM);
	ASSERT_EQ(x_remote_set(a, 0, 4, member_remote), -EPERM);
	ASSERT_EQ(x_remote_set(a, 3, 1, v), -EPERM);
	/* The change set is the daemon's too. */
	ASSERT_EQ(atomik_changes(a, v, NULL, NULL), -EPERM);
	ASSERT_EQ(x_remote_read(a, 0, 4, v), 0);
	ASSERT_EQ(memcmp(v, member_remote, sizeof(v)), 0);
	ASSERT_EQ(state(a, 0), 0x5);
	ASSERT_EQ(state(a, 1), 0x6 ^ 0x10);
	x_close(a);
}

TEST_F(member, remote_set_needs_cap_sys_admin)
{
	struct atomik *root;
	uint64_t v[4];

	ASSERT_EQ(as_member(self->gid, member_creates, self->sh), 0);
	ASSERT_NE(self->sh->id, 0);
	/* Root sets the row, and has no descriptor open while the member runs. */
	root = open_dev(O_RDWR);
	ASSERT_EQ(atomik_table_select(root, self->sh->id), 0);
	ASSERT_EQ(x_remote_set(root, 0, 4, member_remote), 0);
	x_close(root);

	ASSERT_EQ(as_member(self->gid, member_tries, self->sh), 0);

	root = open_dev(O_RDWR);
	ASSERT_EQ(atomik_table_select(root, self->sh->id), 0);
	ASSERT_EQ(x_remote_read(root, 0, 4, v), 0);
	ASSERT_EQ(memcmp(v, member_remote, sizeof(v)), 0);
	ASSERT_EQ(state(root, 1), 0x6 ^ 0x10);
	x_close(root);
}

/*
 * The caller's capability counts, not the opener's: a descriptor root
 * opened, inherited by a process that is the member, sets nothing.
 */
static struct atomik *root_opened;

static void member_uses_root_descriptor(void *arg)
{
	uint64_t v[4] = { 0xC, 0xC, 0xC, 0xC };

	ASSERT_EQ(x_remote_set(root_opened, 0, 4, v), -EPERM);
	ASSERT_EQ(atomik_changes(root_opened, v, NULL, NULL), -EPERM);
	ASSERT_EQ(x_remote_read(root_opened, 0, 4, v), 0);
	ASSERT_EQ(memcmp(v, member_remote, sizeof(v)), 0);
	/* What the descriptor's opener may do otherwise, it still may. */
	ASSERT_EQ(x_accum(root_opened, 2, 0x20), 0);
}

TEST_F(member, remote_set_checks_the_caller_not_the_opener)
{
	uint64_t v[4];

	root_opened = open_dev(O_RDWR);
	ASSERT_EQ(atomik_table_create(root_opened, 4, ATOMIK_TABLE_SELECT |
				      ATOMIK_TABLE_REPLICATED, &self->sh->id), 0);
	/* Not over io_uring: the child must not inherit a ring of the parent's. */
	ASSERT_EQ(atomik_remote_set(root_opened, 0, 4, member_remote), 0);
	ASSERT_EQ(as_member(self->gid, member_uses_root_descriptor, NULL), 0);
	ASSERT_EQ(x_remote_read(root_opened, 0, 4, v), 0);
	ASSERT_EQ(memcmp(v, member_remote, sizeof(v)), 0);
	ASSERT_EQ(state(root_opened, 2), 0x7 ^ 0x20);
	x_close(root_opened);
}
