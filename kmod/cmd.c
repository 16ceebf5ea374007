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
	struct atomik_changes changes;
	u64 words[10];
};

/*
 * One command in flight: the descriptor it came on, the table it works on
 * (NULL for the commands that manage tables), its payload in kernel memory,
 * and what it returns besides its status.
 */
struct atomik_ctx {
	unsigned int cmd;
	struct file *file;
	struct atomik_table *t;
	union atomik_payload *p;
	bool has_res2;		/* a 32-byte io_uring CQE takes res2 */
	u64 res2;
};

static int atomik_cmd_info(struct atomik_ctx *c)
{
	struct atomik_info *info = &c->p->info;

	memset(info, 0, sizeof(*info));
	info->abi_version = ATOMIK_ABI_VERSION;
	info->table_id = c->t->id;
	info->nr_addrs = c->t->nr_addrs;
	info->max_batch = ATOMIK_MAX_BATCH;
	info->features = ATOMIK_FEAT_ALL;
	info->memory_bytes = atomik_memory_used();
	info->memory_cap = atomik_memory_limit();
	info->nr_tables = atomik_nr_tables();
	info->nr_slots = num_possible_cpus();
	if (atomik_table_replicated(c->t))
		info->table_flags = ATOMIK_TABLE_REPLICATED;
	info->instance = c->t->instance;
	info->map_stride = c->t->map_stride;
	info->map_bytes = (u64)c->t->map_nr_pages << PAGE_SHIFT;
	return 0;
}

/* LOAD, ACCUM and READ: one address, one value. */
static int atomik_cmd_xfer(struct atomik_ctx *c)
{
	struct atomik_xfer *x = &c->p->xfer;
	u32 valid = c->cmd == ATOMIK_IOC_READ ? ATOMIK_READ_ACCUM : 0;

	if (x->flags & ~valid || x->addr >= c->t->nr_addrs)
		return -EINVAL;
	switch (c->cmd) {
	case ATOMIK_IOC_LOAD:
		atomik_load(c->t, x->addr, x->value);
		atomik_count(loads, 1);
		break;
	case ATOMIK_IOC_ACCUM:
		atomik_accum(c->t, x->addr, x->value);
		atomik_count(deltas, 1);
		break;
	case ATOMIK_IOC_READ:
		x->value = atomik_read(c->t, x->addr, x->flags & ATOMIK_READ_ACCUM);
		atomik_count(reads, 1);
		break;
	}
	return 0;
}

static int atomik_cmd_swap(struct atomik_ctx *c)
{
	struct atomik_swap *s = &c->p->swap;
	bool keep = s->flags & ATOMIK_SWAP_KEEP;

	if (s->flags & ~ATOMIK_SWAP_KEEP || s->addr >= c->t->nr_addrs ||
	    (keep && s->new_ref))
		return -EINVAL;
	s->old_state = atomik_swap(c->t, s->addr, s->new_ref, keep);
	c->res2 = s->old_state;
	atomik_count(swaps, 1);
	return 0;
}

static int atomik_cmd_read_to(struct atomik_ctx *c)
{
	struct atomik_read_to *r = &c->p->read_to;
	u64 v;

	if (r->flags & ~ATOMIK_READ_ACCUM || r->addr >= c->t->nr_addrs ||
	    (!r->result_ptr && !c->has_res2))
		return -EINVAL;
	v = atomik_read(c->t, r->addr, r->flags & ATOMIK_READ_ACCUM);
	if (r->result_ptr && put_user(v, (u64 __user *)u64_to_user_ptr(r->result_ptr)))
		return -EFAULT;
	c->res2 = v;
	atomik_count(reads, 1);
	return 0;
}

static int atomik_cmd_accum_inline(struct atomik_ctx *c)
{
	struct atomik_inline_deltas *inl = &c->p->inl;
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
		if (inl->addr[i] >= c->t->nr_addrs)
			return -EINVAL;
		d[i].addr = inl->addr[i];
		d[i].delta = inl->delta[i];
	}
	atomik_accum_many(c->t, d, inl->count);
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

/* The first word of a struct atomik_delta, read whole: addr, reserved above. */
static inline u64 atomik_delta_key(u64 word)
{
#ifdef __BIG_ENDIAN
	word = ror64(word, 32);
#endif
	return word;
}

/*
 * Copy an ACCUM_BATCH's deltas into d and check them in the same pass, each
 * element read once: every address in range and every reserved word zero.
 * With the reserved word as the high half, one compare per element checks
 * both.  This pass and the apply are the whole per-delta cost of a batch;
 * one pass instead of a copy and a check measured about a tenth faster
 * (Documentation/atomik/benchmark.rst).  The count was checked.
 */
static int atomik_copy_deltas(struct atomik_delta *d, const struct atomik_delta __user *u,
			      u32 n, u32 nr_addrs)
{
	bool bad = false;
	u64 word, delta;
	u32 i;

	if (!user_access_begin(u, array_size(n, sizeof(*u))))
		return -EFAULT;
	for (i = 0; i < n; i++) {
		unsafe_get_user(word, (const u64 __user *)&u[i], efault);
		unsafe_get_user(delta, &u[i].delta, efault);
		bad |= atomik_delta_key(word) >= nr_addrs;
		*(u64 *)&d[i] = word;	/* addr and reserved, as they were */
		d[i].delta = delta;
	}
	user_access_end();
	return bad ? -EINVAL : 0;
efault:
	user_access_end();
	return -EFAULT;
}

static int atomik_cmd_accum_batch(struct atomik_ctx *c)
{
	struct atomik_batch *b = &c->p->batch;
	size_t size = array_size(b->count, sizeof(struct atomik_delta));
	struct atomik_delta *d;
	int err = 0;

	if (b->count) {
		d = atomik_buf_get(size);
		if (!d)
			return -ENOMEM;
		err = atomik_copy_deltas(d, u64_to_user_ptr(b->ptr), b->count,
					 c->t->nr_addrs);
		if (!err) {
			atomik_accum_many(c->t, d, b->count);
			atomik_count(deltas, b->count);
		}
		atomik_buf_put(d, size);
	}
	if (!err)
		atomik_count(batches, 1);
	return err;
}

/*
 * An OP_BATCH is checked whole before any of it is applied: every op valid,
 * the right to write if any op writes, and room for the results.
 */
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

static int atomik_op_batch_check(struct atomik_ctx *c, const struct atomik_op *ops)
{
	struct atomik_batch *b = &c->p->batch;
	bool writes = false;
	u32 i;
	int err;

	for (i = 0; i < b->count; i++) {
		err = atomik_op_check(c->t, &ops[i]);
		if (err)
			return err;
		writes |= ops[i].opcode != ATOMIK_OP_READ;
	}
	if (writes) {
		err = atomik_file_may_write(c->file, c->t);
		if (err)
			return err;
	}
	/* Results go back in place: make sure they can before applying. */
	if (copy_to_user(u64_to_user_ptr(b->ptr), ops, array_size(b->count, sizeof(*ops))))
		return -EFAULT;
	return 0;
}

static void atomik_op_batch_apply(struct atomik_table *t, struct atomik_op *ops, u32 n)
{
	u32 i, deltas = 0, reads = 0, loads = 0, swaps = 0;

	for (i = 0; i < n; i++) {
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
		if (i % ATOMIK_APPLY_CHUNK == ATOMIK_APPLY_CHUNK - 1)
			cond_resched();
	}
	atomik_count(deltas, deltas);
	atomik_count(reads, reads);
	atomik_count(loads, loads);
	atomik_count(swaps, swaps);
}

static int atomik_cmd_op_batch(struct atomik_ctx *c)
{
	struct atomik_batch *b = &c->p->batch;
	size_t size = array_size(b->count, sizeof(struct atomik_op));
	struct atomik_op *ops;
	int err = 0;

	if (b->count == 0) {
		atomik_count(batches, 1);
		return 0;
	}
	ops = atomik_copy_array(b->ptr, b->count, sizeof(*ops), &err);
	if (!ops)
		return err;
	err = atomik_op_batch_check(c, ops);
	if (!err) {
		atomik_op_batch_apply(c->t, ops, b->count);
		atomik_count(batches, 1);
		/*
		 * Only a concurrent munmap() of the buffer by the caller can
		 * make this fail now; the operations are applied and -EFAULT
		 * says the results were lost.
		 */
		if (copy_to_user(u64_to_user_ptr(b->ptr), ops, size))
			err = -EFAULT;
	}
	atomik_buf_put(ops, size);
	return err;
}

static int atomik_cmd_read_range(struct atomik_ctx *c)
{
	struct atomik_range *r = &c->p->range;
	u64 __user *dst = u64_to_user_ptr(r->ptr);
	bool accum = r->flags & ATOMIK_READ_ACCUM;
	struct atomik_table *t = c->t;
	u32 done = 0, n;
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
		atomik_read_many(t, r->first + done, n, accum, buf);
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

/*
 * REMOTE_SET and REMOTE_READ: a replicated table's remote row for a range of
 * addresses, at least one and at most ATOMIK_MAX_BATCH.  The values to set
 * are copied in whole before any is.
 */
static int atomik_cmd_remote(struct atomik_ctx *c)
{
	struct atomik_range *r = &c->p->range;
	size_t size = array_size(r->count, sizeof(u64));
	int err = 0;
	u64 *v;

	if (r->flags || r->reserved)
		return -EINVAL;
	if (!atomik_table_replicated(c->t))
		return -EOPNOTSUPP;
	if (r->count > ATOMIK_MAX_BATCH)
		return -E2BIG;
	if (r->count == 0 || r->count > c->t->nr_addrs ||
	    r->first > c->t->nr_addrs - r->count)
		return -EINVAL;
	if (c->cmd == ATOMIK_IOC_REMOTE_SET) {
		v = atomik_copy_array(r->ptr, r->count, sizeof(*v), &err);
		if (!v)
			return err;
		atomik_remote_set(c->t, r->first, r->count, v);
	} else {
		v = atomik_buf_get(size);
		if (!v)
			return -ENOMEM;
		atomik_remote_read(c->t, r->first, r->count, v);
		if (copy_to_user(u64_to_user_ptr(r->ptr), v, size))
			err = -EFAULT;
	}
	atomik_buf_put(v, size);
	return err;
}

/*
 * CHANGES: take a replicated table's change set into the caller's map,
 * which must hold the table's bits (-EINVAL, with nr_bits short or flags
 * not 0; -EOPNOTSUPP on a table that is not replicated; -EFAULT,
 * the set kept, if the map cannot be written).
 */
static int atomik_cmd_changes(struct atomik_ctx *c)
{
	struct atomik_changes *ch = &c->p->changes;
	u32 bits, count = 0;
	bool untracked;
	int err;

	if (ch->flags)
		return -EINVAL;
	if (!c->t->tracked)
		return -EOPNOTSUPP;
	bits = atomik_change_bits(c->t);
	if (ch->nr_bits < bits)
		return -EINVAL;
	err = atomik_changes_take(c->t, u64_to_user_ptr(ch->map_ptr), &count, &untracked);
	if (err)
		return err;
	ch->nr_bits = bits;
	ch->granule = 1U << c->t->zone_shift;
	ch->count = count;
	ch->flags = untracked ? ATOMIK_CHANGES_UNTRACKED : 0;
	return 0;
}

/* The commands that manage tables work on the registry, not on c->t. */
static int atomik_cmd_table_create(struct atomik_ctx *c)
{
	struct atomik_table_req *req = &c->p->table;
	struct file *file = c->file;
	struct atomik_table *t;

	int err;

	if (req->flags & ~(ATOMIK_TABLE_SELECT | ATOMIK_TABLE_REPLICATED |
			   ATOMIK_TABLE_DESTROY_ON_CLOSE) || req->reserved)
		return -EINVAL;
	/* A mapped file keeps its table (atomik_file_select()). */
	if ((req->flags & ATOMIK_TABLE_SELECT) && atomik_file_mapped(file))
		return -EBUSY;
	/* The per-user limits bind all but CAP_SYS_RESOURCE. */
	t = atomik_table_create(req->nr_addrs, req->flags & ATOMIK_TABLE_REPLICATED,
				file->f_cred->fsuid, false,
				file_ns_capable(file, &init_user_ns, CAP_SYS_RESOURCE));
	if (IS_ERR(t))
		return PTR_ERR(t);
	if (req->flags & ATOMIK_TABLE_DESTROY_ON_CLOSE)
		atomik_file_own(file, t);
	req->table_id = t->id;
	if (req->flags & ATOMIK_TABLE_SELECT) {
		/* A mapping made since the check above keeps the table. */
		err = atomik_file_select(file, t);
		if (err)
			goto unmake;
	} else {
		atomik_table_put(t);
	}
	return 0;

unmake:
	/*
	 * Nobody was told its id: it goes as if never made, off the file's
	 * list of tables to destroy on close too.
	 */
	atomik_table_destroy(t);
	atomik_table_put(t);
	return err;
}

static int atomik_cmd_table_destroy(struct atomik_ctx *c)
{
	struct atomik_table_req *req = &c->p->table;
	struct atomik_table *t;
	int err;

	if (req->flags || req->reserved || req->nr_addrs)
		return -EINVAL;
	if (req->table_id == 0)
		return -EBUSY;
	t = atomik_table_lookup(req->table_id);
	if (!t)
		return -ENOENT;
	err = atomik_file_may_write(c->file, t) ?: atomik_table_destroy(t);
	atomik_table_put(t);
	return err;
}

static int atomik_cmd_table_select(struct atomik_ctx *c)
{
	struct atomik_table_req *req = &c->p->table;
	struct atomik_table *t;
	int err;

	if (req->flags || req->reserved || req->nr_addrs)
		return -EINVAL;
	t = atomik_table_lookup(req->table_id);
	if (!t)
		return -ENOENT;
	req->nr_addrs = t->nr_addrs;
	err = atomik_file_select(c->file, t);
	if (err)
		atomik_table_put(t);
	return err;
}

/*
 * Every command.  WRITES: changes state, so the descriptor must be open for
 * writing and allowed to write the table (atomik_file_may_write(); the
 * commands that manage tables check the table they name); URING: accepted over
 * io_uring; CQE32: over io_uring, only with 32-byte completions, which
 * carry its result; BATCH: the payload is a struct atomik_batch (flags 0,
 * at most ATOMIK_MAX_BATCH entries); REGISTRY: manages tables rather than
 * working on the descriptor's; ADMIN: besides, the caller itself must have
 * CAP_SYS_ADMIN (the remote row is the cluster daemon's to set, not every
 * writer's).  OP_BATCH checks writing per op.
 */
#define ATOMIK_CMD_WRITES	BIT(0)
#define ATOMIK_CMD_URING	BIT(1)
#define ATOMIK_CMD_CQE32	BIT(2)
#define ATOMIK_CMD_BATCH	BIT(3)
#define ATOMIK_CMD_REGISTRY	BIT(4)
#define ATOMIK_CMD_ADMIN	BIT(5)

static const struct atomik_cmd_desc {
	unsigned int cmd;
	unsigned int flags;
	int (*handler)(struct atomik_ctx *c);
} atomik_cmds[] = {
	{ ATOMIK_IOC_INFO, 0, atomik_cmd_info },
	{ ATOMIK_IOC_LOAD, ATOMIK_CMD_WRITES | ATOMIK_CMD_URING, atomik_cmd_xfer },
	{ ATOMIK_IOC_ACCUM, ATOMIK_CMD_WRITES | ATOMIK_CMD_URING, atomik_cmd_xfer },
	{ ATOMIK_IOC_READ, 0, atomik_cmd_xfer },
	{ ATOMIK_IOC_SWAP, ATOMIK_CMD_WRITES | ATOMIK_CMD_URING | ATOMIK_CMD_CQE32,
	  atomik_cmd_swap },
	{ ATOMIK_IOC_ACCUM_BATCH, ATOMIK_CMD_WRITES | ATOMIK_CMD_URING | ATOMIK_CMD_BATCH,
	  atomik_cmd_accum_batch },
	{ ATOMIK_IOC_OP_BATCH, ATOMIK_CMD_URING | ATOMIK_CMD_BATCH, atomik_cmd_op_batch },
	{ ATOMIK_IOC_READ_RANGE, ATOMIK_CMD_URING, atomik_cmd_read_range },
	{ ATOMIK_IOC_TABLE_CREATE, ATOMIK_CMD_WRITES | ATOMIK_CMD_REGISTRY,
	  atomik_cmd_table_create },
	{ ATOMIK_IOC_TABLE_DESTROY, ATOMIK_CMD_WRITES | ATOMIK_CMD_REGISTRY,
	  atomik_cmd_table_destroy },
	{ ATOMIK_IOC_TABLE_SELECT, ATOMIK_CMD_REGISTRY, atomik_cmd_table_select },
	{ ATOMIK_IOC_READ_TO, ATOMIK_CMD_URING, atomik_cmd_read_to },
	{ ATOMIK_IOC_ACCUM_INLINE, ATOMIK_CMD_WRITES | ATOMIK_CMD_URING, atomik_cmd_accum_inline },
	{ ATOMIK_IOC_REMOTE_SET, ATOMIK_CMD_WRITES | ATOMIK_CMD_URING | ATOMIK_CMD_ADMIN,
	  atomik_cmd_remote },
	{ ATOMIK_IOC_REMOTE_READ, ATOMIK_CMD_URING, atomik_cmd_remote },
	{ ATOMIK_IOC_CHANGES, ATOMIK_CMD_WRITES | ATOMIK_CMD_ADMIN, atomik_cmd_changes },
};

static const struct atomik_cmd_desc *atomik_cmd_find(unsigned int cmd)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(atomik_cmds); i++)
		if (atomik_cmds[i].cmd == cmd)
			return &atomik_cmds[i];
	return NULL;
}

/*
 * Run one command on a payload already in kernel memory.  Shared by every
 * path into the device; the caller copies the payload in and, for commands
 * that return data, back out.
 */
static int atomik_exec(const struct atomik_cmd_desc *desc, struct atomik_ctx *c)
{
	bool writes = desc->flags & ATOMIK_CMD_WRITES;
	int ret;

	/* The descriptor's mode first, whatever the payload says. */
	if (writes) {
		ret = atomik_file_may_write(c->file, NULL);
		if (ret)
			return ret;
	}
	if (desc->flags & ATOMIK_CMD_REGISTRY)
		return desc->handler(c);
	if (desc->flags & ATOMIK_CMD_BATCH) {
		if (c->p->batch.flags)
			return -EINVAL;
		if (c->p->batch.count > ATOMIK_MAX_BATCH)
			return -E2BIG;
	}
	c->t = atomik_file_table(c->file);
	if (!c->t)
		return -ENODEV;
	ret = writes ? atomik_file_may_write(c->file, c->t) : 0;
	/*
	 * The caller's credentials, not the opener's: a descriptor that a
	 * privileged process opened and passed on grants no more.  Over
	 * io_uring they are those the request was submitted with.
	 */
	if (!ret && (desc->flags & ATOMIK_CMD_ADMIN) && !capable(CAP_SYS_ADMIN))
		ret = -EPERM;
	if (!ret)
		ret = desc->handler(c);
	percpu_ref_put(&c->t->active);
	return ret;
}

long atomik_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	const struct atomik_cmd_desc *desc = atomik_cmd_find(cmd);
	void __user *argp = (void __user *)arg;
	union atomik_payload p;
	struct atomik_ctx c = { .cmd = cmd, .file = file, .p = &p };
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
	ret = atomik_exec(desc, &c);
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
	case ATOMIK_IOC_REMOTE_SET:
	case ATOMIK_IOC_REMOTE_READ:
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
	const u64 *src = atomik_uring_payload(ioucmd);
	union atomik_payload p;
	struct atomik_ctx c = {
		.cmd = ioucmd->cmd_op,
		.file = ioucmd->file,
		.p = &p,
		.has_res2 = issue_flags & IO_URING_F_CQE32,
	};
	size_t room, size, i;
	int ret;

	if (issue_flags & IO_URING_F_IOPOLL) {
		ret = -EOPNOTSUPP;
		goto out;
	}
	if (!desc || !(desc->flags & ATOMIK_CMD_URING)) {
		ret = -ENOTTY;
		goto out;
	}
	room = issue_flags & IO_URING_F_SQE128 ? ATOMIK_URING_CMD128_BYTES :
						 ATOMIK_URING_CMD_BYTES;
	size = _IOC_SIZE(desc->cmd);
	if (size > room) {
		ret = -EMSGSIZE;
		goto out;
	}
	/* A swap's only result is the old state: it needs a 32-byte CQE. */
	if ((desc->flags & ATOMIK_CMD_CQE32) && !c.has_res2) {
		ret = -EINVAL;
		goto out;
	}
	BUILD_BUG_ON(sizeof(p) != ATOMIK_URING_CMD128_BYTES);
	for (i = 0; i < size / sizeof(u64); i++)
		p.words[i] = READ_ONCE(src[i]);
	/*
	 * With an accelerator, table 0's calls may wait for the device; large
	 * copies may fault and allocate.  io_uring issues them again from a
	 * worker that may sleep, and this copy of the payload is dropped.
	 */
	if ((issue_flags & IO_URING_F_NONBLOCK) &&
	    (atomik_ext_attached() || !atomik_uring_inline_ok(desc->cmd, &p)))
		return -EAGAIN;

	ret = atomik_exec(desc, &c);
out:
	if (ret)
		atomik_count(errors, 1);
	if (c.has_res2 && !ret && c.res2) {
		io_uring_cmd_done(ioucmd, ret, c.res2, issue_flags);
		return -EIOCBQUEUED;
	}
	return ret;
}
