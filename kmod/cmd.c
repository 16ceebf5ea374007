// SPDX-License-Identifier: GPL-2.0
/*
 * The command dispatcher: every request, whatever path it came by, is copied
 * into kernel memory once, validated completely, and only then applied.
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "atomik.h"
#include "compat.h"

/* Entries of READ_RANGE handed back per copy_to_user(). */
#define ATOMIK_RANGE_CHUNK	512

union atomik_payload {
	struct atomik_info info;
	struct atomik_xfer xfer;
	struct atomik_swap swap;
	struct atomik_batch batch;
	struct atomik_range range;
	struct atomik_table_req table;
	struct atomik_read_to read_to;
	struct atomik_inline_deltas inl;
	u64 words[10];
};

/* How a command came in, and what it returns besides its status. */
struct atomik_call {
	bool has_res2;		/* a 32-byte io_uring CQE takes res2 */
	u64 res2;
};

/* Every command, and what it needs. */
static const struct atomik_cmd_desc {
	unsigned int cmd;
	bool writes;		/* changes state: needs FMODE_WRITE */
	bool uring;		/* accepted over io_uring */
} atomik_cmds[] = {
	{ ATOMIK_IOC_INFO,		false,	false },
	{ ATOMIK_IOC_LOAD,		true,	true },
	{ ATOMIK_IOC_ACCUM,		true,	true },
	{ ATOMIK_IOC_READ,		false,	false },
	{ ATOMIK_IOC_SWAP,		true,	true },
	{ ATOMIK_IOC_ACCUM_BATCH,	true,	true },
	{ ATOMIK_IOC_OP_BATCH,		false,	true },	/* checked per op */
	{ ATOMIK_IOC_READ_RANGE,	false,	true },
	{ ATOMIK_IOC_TABLE_CREATE,	true,	false },
	{ ATOMIK_IOC_TABLE_DESTROY,	true,	false },
	{ ATOMIK_IOC_TABLE_SELECT,	false,	false },
	{ ATOMIK_IOC_READ_TO,		false,	true },
	{ ATOMIK_IOC_ACCUM_INLINE,	true,	true },
};

static const struct atomik_cmd_desc *atomik_cmd_find(unsigned int cmd)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(atomik_cmds); i++)
		if (atomik_cmds[i].cmd == cmd)
			return &atomik_cmds[i];
	return NULL;
}

int atomik_file_open(struct file *file)
{
	struct atomik_file *af;
	struct atomik_table *t;

	af = kzalloc(sizeof(*af), GFP_KERNEL_ACCOUNT);
	if (!af)
		return -ENOMEM;
	t = atomik_table_lookup(0);
	if (!t) {
		kfree(af);
		return -ENODEV;
	}
	mutex_init(&af->select_lock);
	RCU_INIT_POINTER(af->table, t);
	file->private_data = af;
	return 0;
}

void atomik_file_release(struct file *file)
{
	struct atomik_file *af = file->private_data;

	atomik_table_put(rcu_dereference_protected(af->table, 1));
	mutex_destroy(&af->select_lock);
	kfree(af);
}

/* The descriptor's table with an active reference, or NULL if it was
 * destroyed.  Drop with percpu_ref_put(&t->active).
 */
static struct atomik_table *atomik_file_table(struct atomik_file *af)
{
	struct atomik_table *t;

	rcu_read_lock();
	t = rcu_dereference(af->table);
	if (!percpu_ref_tryget_live(&t->active))
		t = NULL;
	rcu_read_unlock();
	return t;
}

/* Make t (a users reference, consumed) the descriptor's table. */
static void atomik_file_select(struct atomik_file *af, struct atomik_table *t)
{
	struct atomik_table *old;

	mutex_lock(&af->select_lock);
	old = rcu_replace_pointer(af->table, t, lockdep_is_held(&af->select_lock));
	mutex_unlock(&af->select_lock);
	atomik_table_put(old);
}

static int atomik_cmd_info(struct file *file, struct atomik_table *t,
			   struct atomik_info *info)
{
	memset(info, 0, sizeof(*info));
	info->abi_version = ATOMIK_ABI_VERSION;
	info->table_id = t->id;
	info->nr_addrs = t->nr_addrs;
	info->max_batch = ATOMIK_MAX_BATCH;
	info->features = ATOMIK_FEAT_TABLES | ATOMIK_FEAT_SWAP |
			 ATOMIK_FEAT_OP_BATCH | ATOMIK_FEAT_READ_RANGE |
			 ATOMIK_FEAT_READ_ACCUM | ATOMIK_FEAT_URING_CMD;
	info->memory_bytes = atomik_memory_used();
	info->memory_cap = READ_ONCE(atomik_memory_cap);
	info->nr_tables = atomik_nr_tables();
	info->nr_slots = num_possible_cpus();
	return 0;
}

static int atomik_cmd_xfer(unsigned int cmd, struct atomik_table *t,
			   struct atomik_xfer *x)
{
	u32 valid = cmd == ATOMIK_IOC_READ ? ATOMIK_READ_ACCUM : 0;

	if (x->flags & ~valid || x->addr >= t->nr_addrs)
		return -EINVAL;
	switch (cmd) {
	case ATOMIK_IOC_LOAD:
		atomik_load(t, x->addr, x->value);
		atomik_count(loads, 1);
		break;
	case ATOMIK_IOC_ACCUM:
		atomik_accum(t, x->addr, x->value);
		atomik_count(deltas, 1);
		break;
	case ATOMIK_IOC_READ:
		x->value = atomik_read(t, x->addr, x->flags & ATOMIK_READ_ACCUM);
		atomik_count(reads, 1);
		break;
	}
	return 0;
}

static int atomik_cmd_swap(struct atomik_table *t, struct atomik_swap *s,
			   struct atomik_call *call)
{
	bool keep = s->flags & ATOMIK_SWAP_KEEP;

	if (s->flags & ~ATOMIK_SWAP_KEEP || s->addr >= t->nr_addrs ||
	    (keep && s->new_ref))
		return -EINVAL;
	s->old_state = atomik_swap(t, s->addr, s->new_ref, keep);
	call->res2 = s->old_state;
	atomik_count(swaps, 1);
	return 0;
}

static int atomik_cmd_read_to(struct atomik_table *t, struct atomik_read_to *r,
			      struct atomik_call *call)
{
	u64 v;

	if (r->flags & ~ATOMIK_READ_ACCUM || r->addr >= t->nr_addrs ||
	    (!r->result_ptr && !call->has_res2))
		return -EINVAL;
	v = atomik_read(t, r->addr, r->flags & ATOMIK_READ_ACCUM);
	if (r->result_ptr && put_user(v, (u64 __user *)u64_to_user_ptr(r->result_ptr)))
		return -EFAULT;
	call->res2 = v;
	atomik_count(reads, 1);
	return 0;
}

static int atomik_cmd_accum_inline(struct atomik_table *t,
				   struct atomik_inline_deltas *inl)
{
	struct atomik_delta d[ATOMIK_INLINE_DELTAS];
	u32 i;

	if (inl->flags || inl->count > ATOMIK_INLINE_DELTAS)
		return -EINVAL;
	for (i = 0; i < ATOMIK_INLINE_DELTAS; i++) {
		if (i >= inl->count) {
			if (inl->addr[i] || inl->delta[i])
				return -EINVAL;
			continue;
		}
		if (inl->addr[i] >= t->nr_addrs)
			return -EINVAL;
		d[i].addr = inl->addr[i];
		d[i].delta = inl->delta[i];
	}
	atomik_accum_many(t, d, inl->count);
	atomik_count(deltas, inl->count);
	atomik_count(batches, 1);
	return 0;
}

/*
 * Batch buffers up to ATOMIK_SPARE_BYTES come from a spare kept per CPU, which
 * saves a round trip through the page allocator for every large batch;
 * larger ones are allocated for the call.  A CPU holds at most one spare.
 */
#define ATOMIK_SPARE_BYTES	(64 * 1024)

static DEFINE_PER_CPU(void *, atomik_spare);

static void *atomik_buf_get(size_t bytes)
{
	void *buf;

	if (bytes > ATOMIK_SPARE_BYTES)
		return kvmalloc(bytes, GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	buf = this_cpu_xchg(atomik_spare, NULL);
	return buf ?: kvmalloc(ATOMIK_SPARE_BYTES, GFP_KERNEL | __GFP_NOWARN);
}

static void atomik_buf_put(void *buf, size_t bytes)
{
	if (bytes <= ATOMIK_SPARE_BYTES)
		buf = this_cpu_xchg(atomik_spare, buf);
	kvfree(buf);
}

void atomik_cmd_exit(void)
{
	int cpu;

	for_each_possible_cpu(cpu)
		kvfree(per_cpu(atomik_spare, cpu));
}

/* Copy a batch's array into kernel memory.  The count was checked. */
static void *atomik_copy_array(u64 uptr, u32 count, size_t size, int *err)
{
	size_t bytes = array_size(count, size);
	void *buf;

	buf = atomik_buf_get(bytes);
	if (!buf) {
		*err = -ENOMEM;
		return NULL;
	}
	if (copy_from_user(buf, u64_to_user_ptr(uptr), bytes)) {
		atomik_buf_put(buf, bytes);
		*err = -EFAULT;
		return NULL;
	}
	return buf;
}

/*
 * Every address in range and every reserved word zero.  With the reserved
 * word as the high half, one compare per element checks both; the compiler
 * makes it a single 64-bit load on little-endian machines.  This loop and
 * the apply loop are the whole per-delta cost of a batch.
 */
static bool atomik_deltas_valid(const struct atomik_delta *d, u32 n, u32 nr_addrs)
{
	bool bad = false;
	u32 i;

	for (i = 0; i < n; i++)
		bad |= ((u64)d[i].reserved << 32 | d[i].addr) >= nr_addrs;
	return !bad;
}

static int atomik_cmd_accum_batch(struct atomik_table *t, struct atomik_batch *b)
{
	struct atomik_delta *d;
	int err = 0;

	if (b->count == 0)
		goto counted;
	d = atomik_copy_array(b->ptr, b->count, sizeof(*d), &err);
	if (!d)
		return err;
	if (!atomik_deltas_valid(d, b->count, t->nr_addrs)) {
		err = -EINVAL;
		goto out;
	}
	atomik_accum_many(t, d, b->count);
	atomik_count(deltas, b->count);
	atomik_buf_put(d, array_size(b->count, sizeof(*d)));
counted:
	atomik_count(batches, 1);
	return 0;
out:
	atomik_buf_put(d, array_size(b->count, sizeof(*d)));
	return err;
}

static int atomik_op_check(struct atomik_table *t, const struct atomik_op *op)
{
	if (op->reserved || op->addr >= t->nr_addrs)
		return -EINVAL;
	switch (op->opcode) {
	case ATOMIK_OP_LOAD:
	case ATOMIK_OP_ACCUM:
		return op->flags ? -EINVAL : 0;
	case ATOMIK_OP_READ:
		return op->flags & ~ATOMIK_READ_ACCUM ? -EINVAL : 0;
	case ATOMIK_OP_SWAP:
		if (op->flags & ~ATOMIK_SWAP_KEEP ||
		    (op->flags & ATOMIK_SWAP_KEEP && op->value))
			return -EINVAL;
		return 0;
	}
	return -EINVAL;
}

static int atomik_cmd_op_batch(struct file *file, struct atomik_table *t,
			       struct atomik_batch *b)
{
	u32 i, deltas = 0, reads = 0, loads = 0, swaps = 0;
	struct atomik_op *ops;
	bool writes = false;
	size_t size;
	int err = 0;

	if (b->count == 0) {
		atomik_count(batches, 1);
		return 0;
	}
	ops = atomik_copy_array(b->ptr, b->count, sizeof(*ops), &err);
	if (!ops)
		return err;
	for (i = 0; i < b->count; i++) {
		err = atomik_op_check(t, &ops[i]);
		if (err)
			goto out;
		writes |= ops[i].opcode != ATOMIK_OP_READ;
	}
	if (writes && !(file->f_mode & FMODE_WRITE)) {
		err = -EBADF;
		goto out;
	}
	if (writes && !atomik_may_write(file, t)) {
		err = -EPERM;
		goto out;
	}
	/* Results go back in place: make sure they can before applying. */
	size = array_size(b->count, sizeof(*ops));
	if (copy_to_user(u64_to_user_ptr(b->ptr), ops, size)) {
		err = -EFAULT;
		goto out;
	}
	for (i = 0; i < b->count; i++) {
		struct atomik_op *op = &ops[i];

		switch (op->opcode) {
		case ATOMIK_OP_LOAD:
			atomik_load(t, op->addr, op->value);
			loads++;
			break;
		case ATOMIK_OP_ACCUM:
			atomik_accum(t, op->addr, op->value);
			deltas++;
			break;
		case ATOMIK_OP_READ:
			op->result = atomik_read(t, op->addr,
						 op->flags & ATOMIK_READ_ACCUM);
			reads++;
			break;
		case ATOMIK_OP_SWAP:
			op->result = atomik_swap(t, op->addr, op->value,
						 op->flags & ATOMIK_SWAP_KEEP);
			swaps++;
			break;
		}
		if ((i & 1023) == 1023)
			cond_resched();
	}
	atomik_count(deltas, deltas);
	atomik_count(reads, reads);
	atomik_count(loads, loads);
	atomik_count(swaps, swaps);
	atomik_count(batches, 1);
	/*
	 * Only a concurrent munmap() of the buffer by the caller can make this
	 * fail now; the operations are applied and -EFAULT says the results
	 * were lost.
	 */
	if (copy_to_user(u64_to_user_ptr(b->ptr), ops, size))
		err = -EFAULT;
out:
	atomik_buf_put(ops, array_size(b->count, sizeof(*ops)));
	return err;
}

static int atomik_cmd_read_range(struct atomik_table *t, struct atomik_range *r)
{
	u64 __user *dst = u64_to_user_ptr(r->ptr);
	bool accum = r->flags & ATOMIK_READ_ACCUM;
	u32 done = 0, n, i;
	u64 *buf;
	int err = 0;

	if (r->flags & ~ATOMIK_READ_ACCUM || r->reserved ||
	    r->count > t->nr_addrs || r->first > t->nr_addrs - r->count)
		return -EINVAL;
	if (r->count == 0)
		return 0;
	buf = kmalloc_array(ATOMIK_RANGE_CHUNK, sizeof(*buf), GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	while (done < r->count) {
		/* Only reads so far: a dying caller can stop here. */
		if (fatal_signal_pending(current)) {
			err = -EINTR;
			break;
		}
		n = min_t(u32, r->count - done, ATOMIK_RANGE_CHUNK);
		for (i = 0; i < n; i++)
			buf[i] = atomik_read(t, r->first + done + i, accum);
		if (copy_to_user(dst + done, buf, n * sizeof(*buf))) {
			err = -EFAULT;
			break;
		}
		done += n;
		cond_resched();
	}
	kfree(buf);
	if (!err)
		atomik_count(reads, r->count);
	return err;
}

static int atomik_cmd_table(struct file *file, unsigned int cmd,
			    struct atomik_table_req *req)
{
	struct atomik_file *af = file->private_data;
	struct atomik_table *t;
	u32 valid = cmd == ATOMIK_IOC_TABLE_CREATE ? ATOMIK_TABLE_SELECT : 0;

	if (req->flags & ~valid || req->reserved)
		return -EINVAL;
	switch (cmd) {
	case ATOMIK_IOC_TABLE_CREATE:
		/* The per-user limits bind all but CAP_SYS_RESOURCE. */
		t = atomik_table_create(req->nr_addrs, file->f_cred->fsuid, false,
					file_ns_capable(file, &init_user_ns,
							CAP_SYS_RESOURCE));
		if (IS_ERR(t))
			return PTR_ERR(t);
		req->table_id = t->id;
		if (req->flags & ATOMIK_TABLE_SELECT)
			atomik_file_select(af, t);
		else
			atomik_table_put(t);
		return 0;
	case ATOMIK_IOC_TABLE_DESTROY:
		if (req->nr_addrs)
			return -EINVAL;
		return atomik_table_destroy(file, req->table_id);
	case ATOMIK_IOC_TABLE_SELECT:
		if (req->nr_addrs)
			return -EINVAL;
		t = atomik_table_lookup(req->table_id);
		if (!t)
			return -ENOENT;
		req->nr_addrs = t->nr_addrs;
		atomik_file_select(af, t);
		return 0;
	}
	return -ENOTTY;
}

/*
 * Run one command on a payload already in kernel memory.  Shared by every
 * path into the device; the caller copies the payload in and, for commands
 * that return data, back out.
 */
static int atomik_exec(struct file *file, const struct atomik_cmd_desc *desc,
		       union atomik_payload *p, struct atomik_call *call)
{
	struct atomik_file *af = file->private_data;
	unsigned int cmd = desc->cmd;
	struct atomik_table *t;
	int ret;

	if (desc->writes && !(file->f_mode & FMODE_WRITE))
		return -EBADF;

	switch (cmd) {
	case ATOMIK_IOC_TABLE_CREATE:
	case ATOMIK_IOC_TABLE_DESTROY:
	case ATOMIK_IOC_TABLE_SELECT:
		return atomik_cmd_table(file, cmd, &p->table);
	case ATOMIK_IOC_ACCUM_BATCH:
	case ATOMIK_IOC_OP_BATCH:
		if (p->batch.flags)
			return -EINVAL;
		if (p->batch.count > ATOMIK_MAX_BATCH)
			return -E2BIG;
		break;
	}

	t = atomik_file_table(af);
	if (!t)
		return -ENODEV;
	if (desc->writes && !atomik_may_write(file, t)) {
		ret = -EPERM;
		goto out;
	}

	switch (cmd) {
	case ATOMIK_IOC_INFO:
		ret = atomik_cmd_info(file, t, &p->info);
		break;
	case ATOMIK_IOC_LOAD:
	case ATOMIK_IOC_ACCUM:
	case ATOMIK_IOC_READ:
		ret = atomik_cmd_xfer(cmd, t, &p->xfer);
		break;
	case ATOMIK_IOC_SWAP:
		ret = atomik_cmd_swap(t, &p->swap, call);
		break;
	case ATOMIK_IOC_READ_TO:
		ret = atomik_cmd_read_to(t, &p->read_to, call);
		break;
	case ATOMIK_IOC_ACCUM_INLINE:
		ret = atomik_cmd_accum_inline(t, &p->inl);
		break;
	case ATOMIK_IOC_ACCUM_BATCH:
		ret = atomik_cmd_accum_batch(t, &p->batch);
		break;
	case ATOMIK_IOC_OP_BATCH:
		ret = atomik_cmd_op_batch(file, t, &p->batch);
		break;
	case ATOMIK_IOC_READ_RANGE:
		ret = atomik_cmd_read_range(t, &p->range);
		break;
	default:
		ret = -ENOTTY;
	}
out:
	percpu_ref_put(&t->active);
	return ret;
}

long atomik_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	const struct atomik_cmd_desc *desc = atomik_cmd_find(cmd);
	void __user *argp = (void __user *)arg;
	struct atomik_call call = { };
	union atomik_payload p;
	size_t size = _IOC_SIZE(cmd);
	int ret;

	/* The ioctl number encodes the payload's size, so a known command's
	 * size always fits the union.
	 */
	if (!desc) {
		ret = -ENOTTY;
		goto out;
	}
	if (_IOC_DIR(cmd) & _IOC_WRITE) {
		if (copy_from_user(&p, argp, size)) {
			ret = -EFAULT;
			goto out;
		}
		/* A command that changes state and returns data must be able
		 * to return it: check before anything is applied.
		 */
		if ((_IOC_DIR(cmd) & _IOC_READ) && copy_to_user(argp, &p, size)) {
			ret = -EFAULT;
			goto out;
		}
	}
	ret = atomik_exec(file, desc, &p, &call);
	if (!ret && (_IOC_DIR(cmd) & _IOC_READ) && copy_to_user(argp, &p, size))
		ret = -EFAULT;
out:
	if (ret)
		atomik_count(errors, 1);
	return ret;
}

/*
 * May this command run in io_uring's non-blocking issue (the submitter's own
 * call to io_uring_enter)?  Only if its user memory fits the per-CPU spare
 * buffer (ATOMIK_SPARE_BYTES, a 4096-delta batch) and it cannot wait for the
 * accelerator; anything larger goes to io_uring's workers, which may sleep.
 */
static bool atomik_uring_inline_ok(unsigned int cmd, const union atomik_payload *p)
{
	switch (cmd) {
	case ATOMIK_IOC_ACCUM_BATCH:
		return array_size(p->batch.count, sizeof(struct atomik_delta)) <=
		       ATOMIK_SPARE_BYTES;
	case ATOMIK_IOC_OP_BATCH:
		return array_size(p->batch.count, sizeof(struct atomik_op)) <=
		       ATOMIK_SPARE_BYTES;
	case ATOMIK_IOC_READ_RANGE:
		return array_size(p->range.count, sizeof(u64)) <= ATOMIK_SPARE_BYTES;
	}
	return true;
}

/*
 * IORING_OP_URING_CMD: the same commands, with the payload in the SQE.  The
 * payload is read once into a local copy, which alone is validated and used;
 * the SQE is not touched again.  Commands complete inline, except heavy ones
 * issued non-blocking (atomik_uring_inline_ok()), which return -EAGAIN for
 * io_uring to issue them again from a worker.
 */
int atomik_uring_cmd(struct io_uring_cmd *ioucmd, unsigned int issue_flags)
{
	const struct atomik_cmd_desc *desc = atomik_cmd_find(ioucmd->cmd_op);
	struct atomik_call call = {
		.has_res2 = issue_flags & IO_URING_F_CQE32,
	};
	const u64 *src = atomik_uring_payload(ioucmd);
	size_t room, size, i;
	union atomik_payload p;
	int ret;

	if (issue_flags & IO_URING_F_IOPOLL) {
		ret = -EOPNOTSUPP;
		goto out;
	}
	if (!desc || !desc->uring) {
		ret = -ENOTTY;
		goto out;
	}
	room = issue_flags & IO_URING_F_SQE128 ? ATOMIK_URING_PAYLOAD_BIG :
						 ATOMIK_URING_PAYLOAD;
	size = _IOC_SIZE(desc->cmd);
	if (size > room) {
		ret = -EMSGSIZE;
		goto out;
	}
	/* A swap's only result is the old state: it needs a 32-byte CQE. */
	if (desc->cmd == ATOMIK_IOC_SWAP && !call.has_res2) {
		ret = -EINVAL;
		goto out;
	}
	BUILD_BUG_ON(sizeof(p) != ATOMIK_URING_PAYLOAD_BIG);
	for (i = 0; i < size / sizeof(u64); i++)
		p.words[i] = READ_ONCE(src[i]);
	/*
	 * With an accelerator, table 0's calls may wait for the device; large
	 * copies may fault and allocate.  io_uring issues them again from a
	 * worker that may sleep, and this copy of the payload is dropped.
	 */
	if ((issue_flags & IO_URING_F_NONBLOCK) &&
	    (atomik_fpga_active() || !atomik_uring_inline_ok(desc->cmd, &p)))
		return -EAGAIN;

	ret = atomik_exec(ioucmd->file, desc, &p, &call);
out:
	if (ret)
		atomik_count(errors, 1);
	if (call.has_res2 && !ret && call.res2) {
		io_uring_cmd_done(ioucmd, ret, call.res2, issue_flags);
		return -EIOCBQUEUED;
	}
	return ret;
}
