// SPDX-License-Identifier: GPL-2.0
/*
 * atomik: the command-line interface to /dev/atomik.  See atomik(1).
 *
 * Exit status: 0 success, 1 an operation failed, 2 usage error, 3 the device
 * cannot be opened, 4 a file was refused (restore) or could not be written.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "atomik.h"
#include "atomik-bench.h"
#include "atomikd.h"

#define EXIT_OPFAIL	1
#define EXIT_USAGE	2
#define EXIT_NODEV	3
#define EXIT_BADFILE	4

#define SYSFS		"/sys/class/misc/atomik/"
#define BATCH		4096

/* save/restore file format, little-endian throughout. */
#define SAVE_MAGIC	"ATOMIKS1"
#define SAVE_VERSION	2	/* 1: the checksum covers the records only */

struct save_header {
	char magic[8];
	uint32_t version;
	uint32_t nr_addrs;
	uint64_t checksum;	/* FNV-1a 64 of this header (checksum 0), then the records */
};

struct save_record {
	uint64_t ref;
	uint64_t accum;
};

static const char *device;
static uint32_t table_id;
static int table_given;

static void die(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("atomik: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

/*
 * Decimal, or hexadecimal after 0x: no sign, no spaces, no octal.  Returns
 * 1, 0 for what is not such a number, -ERANGE for one past 2^64 - 1.
 */
static int parse_u64(const char *s, uint64_t *v)
{
	int hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
	const char *digits = hex ? s + 2 : s;
	char *end;

	if (!(hex ? isxdigit((unsigned char)*digits) : isdigit((unsigned char)*digits)))
		return 0;
	errno = 0;
	*v = strtoull(digits, &end, hex ? 16 : 10);
	if (*end)
		return 0;
	return errno == ERANGE ? -ERANGE : !errno;
}

static uint64_t number(const char *s, const char *what)
{
	uint64_t v;
	int ret = parse_u64(s, &v);

	if (ret == -ERANGE)
		die(EXIT_USAGE, "%s '%s' is too large (more than 64 bits)", what, s);
	if (ret != 1)
		die(EXIT_USAGE, "%s '%s' is not a number (decimal or 0x hex)", what, s);
	return v;
}

static uint32_t number32(const char *s, const char *what)
{
	uint64_t v = number(s, what);

	if (v > UINT32_MAX)
		die(EXIT_USAGE, "%s '%s' is larger than 32 bits", what, s);
	return v;
}

/* An operation failed: say what and why, with a hint where there is one. */
static void fail(const char *what, int err)
{
	const char *hint = "";

	switch (-err) {
	case EINVAL:
		hint = " (an address out of range, or a bad value)";
		break;
	case EBADF:
		hint = " (the device was opened read-only)";
		break;
	case EPERM:
		hint = " (the table belongs to another user)";
		break;
	case ENODEV:
		hint = " (the table was destroyed)";
		break;
	case ENOENT:
		hint = " (no such table)";
		break;
	case ENOSPC:
		hint = " (the module's memory cap is reached: see memory_cap in sysfs)";
		break;
	case EDQUOT:
		hint = " (your tables reach a per-user limit: see user_max_tables and user_memory_cap in sysfs)";
		break;
	}
	die(EXIT_OPFAIL, "%s: %s%s", what, strerror(-err), hint);
}

static struct atomik *open_device(int flags)
{
	const char *path = device ? device : "/dev/atomik";
	struct atomik *a;
	int ret;

	ret = atomik_open(&a, path, flags);
	if (ret == -ENOENT && !device)
		die(EXIT_NODEV, "%s does not exist: the atomik module is not loaded "
		    "(load it with 'modprobe atomik')", path);
	if (ret == -ENOENT)
		die(EXIT_NODEV, "%s does not exist", path);
	if (ret == -EACCES || ret == -EPERM)
		die(EXIT_NODEV, "%s: permission denied: add yourself to the group that "
		    "owns it (the packaged udev rule makes it group 'atomik', mode 0660)",
		    path);
	if (ret)
		die(EXIT_NODEV, "cannot open %s: %s", path, strerror(-ret));
	if (table_given) {
		char what[32];

		ret = atomik_table_select(a, table_id);
		snprintf(what, sizeof(what), "table %u", table_id);
		if (ret)
			fail(what, ret);
	}
	return a;
}

static int sysfs_read(const char *name, char *buf, size_t len)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), SYSFS "%s", name);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	if (!fgets(buf, len, f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static int want_help(int argc, char **argv, const char *usage)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: atomik [--device PATH] [--table ID] %s\n", usage);
			exit(0);
		}
	}
	return 0;
}

static void usage_error(const char *usage)
{
	die(EXIT_USAGE, "usage: atomik [--device PATH] [--table ID] %s", usage);
}

/* A command's option without argument, and where to record it. */
struct flag {
	const char *name;
	int *set;
};

/* The global options, before the command or among its own. */
#define GLOBAL_OPTIONS							\
	{ "device", required_argument, NULL, 'd' },			\
	{ "table", required_argument, NULL, 't' },			\
	{ "help", no_argument, NULL, 'h' }

/* --device or --table, which getopt_long returned as opt: taken, true. */
static int take_global(int opt)
{
	if (opt == 'd') {
		device = optarg;
	} else if (opt == 't') {
		table_id = number32(optarg, "table id");
		table_given = 1;
	} else {
		return 0;
	}
	return 1;
}

/* What getopt_long refused, named; cmd is the command (NULL before one). */
static void bad_option(const char *cmd, char **argv)
{
	const char *c = cmd ? cmd : "", *sep = cmd ? ": " : "";

	if (optopt == 'd' || optopt == 't')
		fprintf(stderr, "atomik: %s%s%s needs an argument\n", c, sep, argv[optind - 1]);
	else if (optopt)
		fprintf(stderr, "atomik: %s%sunknown option '-%c'\n", c, sep, optopt);
	else
		fprintf(stderr, "atomik: %s%sunknown option '%s'\n", c, sep, argv[optind - 1]);
}

/*
 * A command's arguments (argv[0] is its name), with getopt_long: its own
 * flags, the global --device and --table (also after the command, and as
 * --table=ID), --help, and -- before arguments that begin with a dash.
 * On return argv holds the name and the other arguments only.
 */
static void parse_args(int *argc, char **argv, const char *usage, const struct flag *flags)
{
	struct option opts[16] = { GLOBAL_OPTIONS };
	int n = 3, i, opt, idx;

	for (i = 0; flags && flags[i].name; i++, n++)
		opts[n] = (struct option){ flags[i].name, no_argument, NULL, 'f' };
	opterr = 0;
	optind = 0;	/* start afresh: main() scanned in another mode */
	while ((opt = getopt_long(*argc, argv, "h", opts, &idx)) != -1) {
		if (take_global(opt))
			continue;
		switch (opt) {
		case 'h':
			printf("usage: atomik [--device PATH] [--table ID] %s\n", usage);
			exit(0);
		case 'f':
			*flags[idx - 3].set = 1;
			break;
		default:
			bad_option(argv[0], argv);
			usage_error(usage);
		}
	}
	for (i = optind; i < *argc; i++)
		argv[1 + i - optind] = argv[i];
	*argc = 1 + *argc - optind;
	argv[*argc] = NULL;
}

static const struct {
	uint64_t bit;
	const char *name;
} features[] = {
	{ ATOMIK_FEAT_TABLES, "tables" },
	{ ATOMIK_FEAT_SWAP, "swap" },
	{ ATOMIK_FEAT_OP_BATCH, "op_batch" },
	{ ATOMIK_FEAT_READ_RANGE, "read_range" },
	{ ATOMIK_FEAT_READ_ACCUM, "read_accum" },
	{ ATOMIK_FEAT_URING_CMD, "uring_cmd" },
	{ ATOMIK_FEAT_REPLICATED, "replicated" },
	{ ATOMIK_FEAT_INSTANCE, "instance" },
};

static int cmd_info(int argc, char **argv)
{
	const char *u = "info [--json]";
	int json = 0;
	struct atomik_info info;
	struct atomik *a;
	unsigned int i;
	int ret, first = 1;

	parse_args(&argc, argv, u, (const struct flag[]){ { "json", &json }, { NULL } });
	if (argc != 1)
		usage_error(u);
	a = open_device(O_RDONLY);
	ret = atomik_info(a, &info);
	if (ret)
		fail("reading the device's facts", ret);
	if (json) {
		printf("{\"abi_version\": %u, \"table\": %u, \"nr_addrs\": %u, "
		       "\"nr_tables\": %u, \"max_batch\": %u, \"memory_bytes\": %" PRIu64
		       ", \"memory_cap\": %" PRIu64 ", \"nr_slots\": %u, \"replicated\": %s"
		       ", \"instance\": \"%016" PRIx64 "\", \"features\": [",
		       info.abi_version, info.table_id, info.nr_addrs, info.nr_tables,
		       info.max_batch, (uint64_t)info.memory_bytes,
		       (uint64_t)info.memory_cap, info.nr_slots,
		       info.table_flags & ATOMIK_TABLE_REPLICATED ? "true" : "false",
		       (uint64_t)info.instance);
		for (i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
			if (info.features & features[i].bit) {
				printf("%s\"%s\"", first ? "" : ", ", features[i].name);
				first = 0;
			}
		}
		printf("]}\n");
	} else {
		printf("ABI version:   %u\n", info.abi_version);
		printf("table:         %u%s\n", info.table_id,
		       info.table_flags & ATOMIK_TABLE_REPLICATED ? " (replicated)" : "");
		printf("addresses:     %u\n", info.nr_addrs);
		printf("tables:        %u\n", info.nr_tables);
		printf("batch limit:   %u\n", info.max_batch);
		printf("memory:        %" PRIu64 " of %" PRIu64 " bytes\n",
		       (uint64_t)info.memory_bytes, (uint64_t)info.memory_cap);
		printf("slots:         %u (possible CPUs)\n", info.nr_slots);
		printf("instance:      %016" PRIx64 "\n", (uint64_t)info.instance);
		printf("features:     ");
		for (i = 0; i < sizeof(features) / sizeof(features[0]); i++)
			if (info.features & features[i].bit)
				printf(" %s", features[i].name);
		printf("\n");
	}
	atomik_close(a);
	return 0;
}

/*
 * Tables: create one (its id on stdout), destroy one, or list them all.
 * The kernel has no list: each id is selected in turn on a read-only
 * descriptor, and the ones that exist are described with INFO.
 */
static int cmd_table(int argc, char **argv)
{
	const char *u = "table create [--replicated] NR_ADDRS | table list [--json] | "
			"table destroy ID";
	int replicated = 0;
	int json = 0;
	struct atomik_info info;
	struct atomik *a;
	uint32_t id, n = 0;
	char what[48];
	int ret;

	parse_args(&argc, argv, u, (const struct flag[]){
		{ "replicated", &replicated }, { "json", &json }, { NULL } });
	if (argc == 3 && !strcmp(argv[1], "create") && !json) {
		uint32_t nr = number32(argv[2], "number of addresses");

		a = open_device(O_RDWR);
		ret = atomik_table_create(a, nr, replicated ? ATOMIK_TABLE_REPLICATED : 0, &id);
		if (ret)
			fail("creating a table", ret);
		printf("%u\n", id);
	} else if (argc == 3 && !strcmp(argv[1], "destroy") && !json && !replicated) {
		id = number32(argv[2], "table id");
		a = open_device(O_RDWR);
		snprintf(what, sizeof(what), "destroying table %u", id);
		ret = atomik_table_destroy(a, id);
		if (ret)
			fail(what, ret);
	} else if (argc == 2 && !strcmp(argv[1], "list") && !replicated) {
		a = open_device(O_RDONLY);
		if (json)
			printf("[");
		else
			printf("%-6s %-10s %s\n", "TABLE", "ADDRESSES", "REPLICATED");
		for (id = 0; id < ATOMIK_MAX_TABLES; id++) {
			ret = atomik_table_select(a, id);
			if (ret == -ENOENT)
				continue;
			snprintf(what, sizeof(what), "table %u", id);
			if (!ret)
				ret = atomik_info(a, &info);
			/* Destroyed between the two calls: gone from the list. */
			if (ret == -ENODEV)
				continue;
			if (ret)
				fail(what, ret);
			if (json)
				printf("%s{\"table\": %u, \"nr_addrs\": %u, \"replicated\": %s}",
				       n ? ", " : "", id, info.nr_addrs,
				       info.table_flags & ATOMIK_TABLE_REPLICATED ? "true" : "false");
			else
				printf("%-6u %-10u %s\n", id, info.nr_addrs,
				       info.table_flags & ATOMIK_TABLE_REPLICATED ? "yes" : "no");
			n++;
		}
		if (json)
			printf("]\n");
	} else {
		usage_error(u);
	}
	atomik_close(a);
	return 0;
}

/*
 * The module's counters and sizes in /sys/class/misc/atomik/: the first
 * six are the operation counters that stat prints; --prometheus prints
 * them all as metrics, named and typed as Documentation/atomik/metrics.rst
 * says.  A file the module does not have (an older module) is left out of
 * the metrics; the operation counters must be there.
 */
#define NR_COUNTERS	6

static const struct stat_file {
	const char *file;
	const char *metric;	/* with its labels */
	const char *type;
	const char *help;
} stat_files[] = {
	{ "deltas", "atomik_deltas_total", "counter",
	  "Deltas accumulated, on every table and by every path." },
	{ "batches", "atomik_batches_total", "counter",
	  "Batch calls that applied their elements (ACCUM_BATCH, OP_BATCH, ACCUM_INLINE)." },
	{ "reads", "atomik_reads_total", "counter",
	  "States (or accumulated deltas) read." },
	{ "loads", "atomik_loads_total", "counter", "States loaded." },
	{ "swaps", "atomik_swaps_total", "counter", "Swaps done." },
	{ "errors", "atomik_errors_total", "counter",
	  "Calls on /dev/atomik that failed, whatever the error." },
	{ "nr_tables", "atomik_tables", "gauge", "Tables that exist, table 0 included." },
	{ "nr_addrs", "atomik_table_addresses{table=\"0\"}", "gauge",
	  "Addresses in a table." },
	{ "memory_bytes", "atomik_memory_bytes", "gauge",
	  "Bytes charged to all tables together." },
	{ "memory_cap", "atomik_memory_cap_bytes", "gauge",
	  "The most bytes all tables together may be charged." },
	{ "fpga_deltas", "atomik_fpga_deltas_total", "counter",
	  "Deltas handed to an accelerator." },
	{ "fpga_batches", "atomik_fpga_batches_total", "counter",
	  "Calls handed to an accelerator." },
	{ "fpga_failures", "atomik_fpga_failures_total", "counter",
	  "Accelerators dropped because they stopped answering." },
	{ "fpga_interrupts", "atomik_fpga_interrupts_total", "counter",
	  "Interrupts taken from accelerators." },
};

#define NR_STAT_FILES	(sizeof(stat_files) / sizeof(stat_files[0]))

static int cmd_stat(int argc, char **argv)
{
	const char *u = "stat [--json | --prometheus]";
	int json = 0, prom = 0;
	char buf[NR_STAT_FILES][64];
	unsigned int i, n;
	size_t len;
	int ret;

	parse_args(&argc, argv, u, (const struct flag[]){
		{ "json", &json }, { "prometheus", &prom }, { NULL } });
	if (argc != 1 || (json && prom))
		usage_error(u);
	/* Every file is read before anything is printed. */
	n = prom ? NR_STAT_FILES : NR_COUNTERS;
	for (i = 0; i < n; i++) {
		ret = sysfs_read(stat_files[i].file, buf[i], sizeof(buf[i]));
		if (ret == -ENOENT && i >= NR_COUNTERS) {
			buf[i][0] = 0;
			continue;
		}
		if (ret == -ENOENT)
			die(EXIT_NODEV, "%s is missing: the atomik module is not loaded",
			    SYSFS);
		if (!ret && parse_u64(buf[i], &(uint64_t){ 0 }) != 1)
			ret = -EPROTO;
		if (ret)
			die(EXIT_OPFAIL, "reading %s%s: %s", SYSFS, stat_files[i].file,
			    strerror(-ret));
	}
	for (i = 0; i < n; i++) {
		const struct stat_file *f = &stat_files[i];

		if (prom && buf[i][0]) {
			len = strcspn(f->metric, "{");
			printf("# HELP %.*s %s\n# TYPE %.*s %s\n%s %s\n", (int)len, f->metric,
			       f->help, (int)len, f->metric, f->type, f->metric, buf[i]);
		} else if (json) {
			printf("%s\"%s\": %s", i ? ", " : "{", f->file, buf[i]);
		} else if (!prom) {
			printf("%-8s %s\n", f->file, buf[i]);
		}
	}
	if (json)
		printf("}\n");
	return 0;
}

static int cmd_load_accum(int argc, char **argv, int load)
{
	const char *u = load ? "load ADDR VALUE" : "accum ADDR DELTA";
	struct atomik *a;
	uint32_t addr;
	uint64_t v;
	int ret;

	parse_args(&argc, argv, u, NULL);
	if (argc != 3)
		usage_error(u);
	addr = number32(argv[1], "address");
	v = number(argv[2], load ? "value" : "delta");
	a = open_device(O_RDWR);
	ret = load ? atomik_load(a, addr, v) : atomik_accum(a, addr, v);
	if (ret)
		fail(load ? "load" : "accum", ret);
	atomik_close(a);
	return 0;
}

/* Addresses first .. first + count - 1 must be in the table. */
static uint32_t check_range(struct atomik *a, uint64_t first, uint64_t count)
{
	uint32_t n;
	int ret = atomik_nr_addrs(a, &n);

	if (ret)
		fail("reading the table's size", ret);
	if (count == 1 && first >= n)
		die(EXIT_OPFAIL, "address %" PRIu64 " is out of range: the table has %u "
		    "addresses (%" PRIu64 " >= %u)", first, n, first, n);
	if (first >= n || count > n - first)
		die(EXIT_OPFAIL, "addresses %" PRIu64 " to %" PRIu64 " are out of range: "
		    "the table has %u addresses (0 to %u)", first, first + count - 1, n, n - 1);
	return n;
}

static void print_value(uint64_t v, int dec)
{
	if (dec)
		printf("%" PRIu64, v);
	else
		printf("0x%016" PRIx64, v);
}

static int cmd_read(int argc, char **argv)
{
	const char *u = "read [--dec] [--accum] ADDR [COUNT]";
	int dec = 0;
	int accum = 0;
	uint32_t addr, count, i, n;
	uint64_t *v;
	struct atomik *a;
	int ret;

	parse_args(&argc, argv, u, (const struct flag[]){
		{ "dec", &dec }, { "accum", &accum }, { NULL } });
	if (argc != 2 && argc != 3)
		usage_error(u);
	addr = number32(argv[1], "address");
	count = argc == 3 ? number32(argv[2], "count") : 1;
	a = open_device(O_RDONLY);
	if (count)
		check_range(a, addr, count);
	if (argc == 2) {
		uint64_t s;

		ret = accum ? atomik_read_accum(a, addr, &s) : atomik_read(a, addr, &s);
		if (ret)
			fail("read", ret);
		print_value(s, dec);
		printf("\n");
		atomik_close(a);
		return 0;
	}
	v = malloc(sizeof(*v) * (count < BATCH ? count : BATCH) + 1);
	if (!v)
		die(EXIT_OPFAIL, "out of memory");
	for (i = 0; i < count; i += n) {
		n = count - i < BATCH ? count - i : BATCH;
		ret = atomik_read_range_flags(a, addr + i, n, accum ? ATOMIK_READ_ACCUM : 0, v);
		if (ret)
			fail("read", ret);
		for (uint32_t k = 0; k < n; k++) {
			printf(dec ? "%" PRIu32 " " : "0x%" PRIx32 " ", addr + i + k);
			print_value(v[k], dec);
			printf("\n");
		}
	}
	free(v);
	atomik_close(a);
	return 0;
}

static int cmd_batch(int argc, char **argv)
{
	const char *u = "batch [FILE]";
	unsigned long lineno = 0;
	uint64_t total = 0, addr, delta;
	struct atomik_delta *d;
	char *line = NULL, *a1, *a2, *rest;
	size_t n = 0, cap = 0;
	uint32_t nr_addrs;
	struct atomik *a;
	FILE *f = stdin;
	int ret;

	parse_args(&argc, argv, u, NULL);
	if (argc > 2)
		usage_error(u);
	if (argc == 2 && strcmp(argv[1], "-")) {
		f = fopen(argv[1], "r");
		if (!f)
			die(EXIT_BADFILE, "cannot read %s: %s", argv[1], strerror(errno));
	}
	d = calloc(BATCH, sizeof(*d));
	if (!d)
		die(EXIT_OPFAIL, "out of memory");
	a = open_device(O_RDWR);
	ret = atomik_nr_addrs(a, &nr_addrs);
	if (ret)
		fail("reading the table's size", ret);
	/* Lines of any length; each checked before its batch is sent. */
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		a1 = strtok_r(line, " \t\r\n", &rest);
		if (!a1 || *a1 == '#')
			continue;
		a2 = strtok_r(NULL, " \t\r\n", &rest);
		if (!a2 || strtok_r(NULL, " \t\r\n", &rest) ||
		    parse_u64(a1, &addr) != 1 || parse_u64(a2, &delta) != 1)
			die(EXIT_BADFILE, "line %lu: expected 'ADDR DELTA' (numbers up to "
			    "2^64 - 1, decimal or 0x hex); applied: the %" PRIu64 " deltas "
			    "of the batches sent before its own, nothing after", lineno, total);
		if (addr >= nr_addrs)
			die(EXIT_BADFILE, "line %lu: address %" PRIu64 " is out of range: the "
			    "table has %u addresses; applied: the %" PRIu64 " deltas of "
			    "the batches sent before its own, nothing after",
			    lineno, addr, nr_addrs, total);
		d[n].addr = addr;
		d[n].delta = delta;
		if (++n == BATCH) {
			ret = atomik_accum_batch(a, d, n);
			if (ret)
				fail("batch", ret);
			total += n;
			n = 0;
		}
	}
	if (ferror(f))
		die(EXIT_BADFILE, "reading line %lu: %s; %" PRIu64 " deltas before it were "
		    "applied", lineno + 1, strerror(errno), total);
	if (n) {
		ret = atomik_accum_batch(a, d, n);
		if (ret)
			fail("batch", ret);
		total += n;
	}
	printf("%" PRIu64 " deltas applied\n", total);
	free(line);
	free(d);
	atomik_close(a);
	return 0;
}

#define FNV1A_INIT	0xcbf29ce484222325ULL

static uint64_t fnv1a(uint64_t h, const void *p, size_t len)
{
	const unsigned char *c = p;

	while (len--) {
		h ^= *c++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static int cmd_save(int argc, char **argv)
{
	const char *u = "save FILE";
	struct save_header h = { .version = SAVE_VERSION };
	struct save_record *rec;
	uint64_t *state, *acc;
	char tmp[PATH_MAX];
	struct atomik *a;
	uint32_t n, i;
	int ret, fd;
	mode_t um;
	FILE *f;

	parse_args(&argc, argv, u, NULL);
	if (argc != 2)
		usage_error(u);
	a = open_device(O_RDONLY);
	ret = atomik_nr_addrs(a, &n);
	if (ret)
		fail("reading the table's size", ret);
	rec = calloc(n, sizeof(*rec));
	state = calloc(n, sizeof(*state));
	acc = calloc(n, sizeof(*acc));
	if (!rec || !state || !acc)
		die(EXIT_OPFAIL, "out of memory");
	ret = atomik_read_range_flags(a, 0, n, ATOMIK_READ_ACCUM, acc);
	if (ret)
		fail("reading the accumulated deltas", ret);
	ret = atomik_read_range(a, 0, n, state);
	if (ret)
		fail("reading the states", ret);
	for (i = 0; i < n; i++) {
		rec[i].ref = state[i] ^ acc[i];
		rec[i].accum = acc[i];
	}
	memcpy(h.magic, SAVE_MAGIC, 8);
	h.nr_addrs = n;
	h.checksum = fnv1a(fnv1a(FNV1A_INIT, &h, sizeof(h)), rec, sizeof(*rec) * n);
	/* A new file beside the old one, renamed over it once complete: a
	 * save that fails leaves the previous one whole. */
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", argv[1]) >= (int)sizeof(tmp))
		die(EXIT_BADFILE, "%s: the name is too long", argv[1]);
	um = umask(0);
	umask(um);
	fd = mkstemp(tmp);
	f = fd < 0 ? NULL : fdopen(fd, "wb");
	if (!f || fwrite(&h, sizeof(h), 1, f) != 1 ||
	    fwrite(rec, sizeof(*rec), n, f) != n || fflush(f) || fsync(fd) ||
	    fchmod(fd, 0666 & ~um) || fclose(f) || rename(tmp, argv[1])) {
		int err = errno;

		if (fd >= 0)
			unlink(tmp);
		die(EXIT_BADFILE, "cannot write %s: %s; the file is as it was",
		    argv[1], strerror(err));
	}
	printf("saved %u addresses to %s\n", n, argv[1]);
	atomik_close(a);
	return 0;
}

static int cmd_restore(int argc, char **argv)
{
	const char *u = "restore FILE";
	struct save_record *rec;
	struct atomik_op *ops;
	struct save_header h;
	struct atomik *a;
	uint32_t n, i, k;
	uint64_t sum;
	char extra;
	FILE *f;
	int ret;

	parse_args(&argc, argv, u, NULL);
	if (argc != 2)
		usage_error(u);
	f = fopen(argv[1], "rb");
	if (!f)
		die(EXIT_BADFILE, "cannot read %s: %s", argv[1], strerror(errno));
	if (fread(&h, sizeof(h), 1, f) != 1)
		die(EXIT_BADFILE, "%s is truncated: no complete header; nothing restored",
		    argv[1]);
	if (memcmp(h.magic, SAVE_MAGIC, 8))
		die(EXIT_BADFILE, "%s is not an atomik save file; nothing restored", argv[1]);
	if (h.version != SAVE_VERSION && h.version != 1)
		die(EXIT_BADFILE, "%s has format version %u, this tool reads 1 and %u; "
		    "nothing restored", argv[1], h.version, SAVE_VERSION);
	a = open_device(O_RDWR);
	ret = atomik_nr_addrs(a, &n);
	if (ret)
		fail("reading the table's size", ret);
	if (h.nr_addrs != n)
		die(EXIT_BADFILE, "%s holds %u addresses but the table has %u; "
		    "nothing restored", argv[1], h.nr_addrs, n);
	rec = calloc(n ? n : 1, sizeof(*rec));
	ops = calloc(2 * BATCH, sizeof(*ops));
	if (!rec || !ops)
		die(EXIT_OPFAIL, "out of memory");
	if (fread(rec, sizeof(*rec), n, f) != n)
		die(EXIT_BADFILE, "%s is truncated; nothing restored", argv[1]);
	if (fread(&extra, 1, 1, f) == 1)
		die(EXIT_BADFILE, "%s has data past its end; nothing restored", argv[1]);
	fclose(f);
	sum = h.checksum;
	h.checksum = 0;
	if (fnv1a(h.version == 1 ? FNV1A_INIT : fnv1a(FNV1A_INIT, &h, sizeof(h)),
		  rec, sizeof(*rec) * n) != sum)
		die(EXIT_BADFILE, "%s is corrupt (checksum mismatch); nothing restored",
		    argv[1]);
	/* The file is sound: load each reference, then replay its deltas. */
	for (i = 0; i < n; i += k) {
		uint32_t m = n - i < BATCH ? n - i : BATCH;

		for (k = 0; k < m; k++) {
			ops[2 * k] = (struct atomik_op){ .opcode = ATOMIK_OP_LOAD,
				.addr = i + k, .value = rec[i + k].ref };
			ops[2 * k + 1] = (struct atomik_op){ .opcode = ATOMIK_OP_ACCUM,
				.addr = i + k, .value = rec[i + k].accum };
		}
		ret = atomik_op_batch(a, ops, 2 * m);
		if (ret)
			fail("restore", ret);
	}
	printf("restored %u addresses from %s\n", n, argv[1]);
	atomik_close(a);
	return 0;
}

static void demo_read(struct atomik *const *nodes, const char *step)
{
	static const char names[] = "ABC";
	uint64_t v;
	int i;

	printf("%-44s", step);
	int ret;

	for (i = 0; i < 3; i++) {
		ret = atomik_read(nodes[i], 0, &v);
		if (ret)
			fail("read", ret);
		printf("  %c=0x%08" PRIx64, names[i], v);
	}
	printf("\n");
}

static void demo_accum(struct atomik *n, uint64_t d)
{
	int ret = atomik_accum(n, 0, d);

	if (ret)
		fail("accum", ret);
}

static int cmd_demo(int argc, char **argv)
{
	const uint64_t init = 0xCAFEBABE, dA = 0x000000FF, dB = 0x0000FF00,
		       dC = 0x00FF0000;
	struct atomik *n[3];
	uint32_t t[3];
	uint64_t va, vb, vc;
	int i, ret;

	parse_args(&argc, argv, "demo", NULL);
	if (argc != 1)
		usage_error("demo");
	printf("Three nodes, A, B and C, each a table of its own, start from the same\n"
	       "reference state, accumulate their own delta, and exchange deltas in\n"
	       "different orders.\n\n");
	for (i = 0; i < 3; i++) {
		n[i] = open_device(O_RDWR);
		ret = atomik_table_create(n[i], 1, ATOMIK_TABLE_SELECT, &t[i]);
		if (ret)
			fail("creating a table", ret);
		ret = atomik_load(n[i], 0, init);
		if (ret)
			fail("load", ret);
	}
	demo_read(n, "load 0xCAFEBABE on every node");
	demo_accum(n[0], dA);
	demo_accum(n[1], dB);
	demo_accum(n[2], dC);
	demo_read(n, "A ^= 0xFF, B ^= 0xFF00, C ^= 0xFF0000");
	demo_accum(n[0], dB);
	demo_accum(n[0], dC);
	demo_read(n, "A receives B's delta, then C's");
	demo_accum(n[1], dC);
	demo_accum(n[1], dA);
	demo_read(n, "B receives C's delta, then A's");
	demo_accum(n[2], dA);
	demo_accum(n[2], dB);
	demo_read(n, "C receives A's delta, then B's");
	atomik_read(n[0], 0, &va);
	atomik_read(n[1], 0, &vb);
	atomik_read(n[2], 0, &vc);
	printf("\n%s: every node holds 0x%08" PRIx64 " = 0xCAFEBABE ^ 0xFF ^ 0xFF00 ^ 0xFF0000\n\n",
	       va == vb && vb == vc && va == (init ^ dA ^ dB ^ dC) ? "converged" : "DIVERGED",
	       va);
	printf("A delta applied twice cancels itself (XOR is its own inverse):\n");
	demo_accum(n[0], dA);
	demo_read(n, "A receives A's delta a second time");
	demo_accum(n[0], dA);
	demo_read(n, "and a third time");
	for (i = 0; i < 3; i++) {
		atomik_table_destroy(n[i], t[i]);
		atomik_close(n[i]);
	}
	return va == vb && vb == vc ? 0 : EXIT_OPFAIL;
}

/*
 * Draw a CSV made by atomik-bench --csv into png with gnuplot.  The script
 * comes through a pipe and the file names as its arguments (ARG1, ARG2),
 * never pasted into gnuplot code, so any name is taken as a name.
 */
#define PLOT_NAME(id, name)	name " "

static void plot_csv(const char *csv, const char *png)
{
	static const char script[] =
		"set terminal png size 900,600; set output ARG1\n"
		"set datafile separator ','; set logscale xy\n"
		"set xlabel 'deltas per batch'; set ylabel 'deltas per second'\n"
		"set title 'atomik bench, 1 thread (ratios between lines are the result)'\n"
		"set key left top\n"
		"plot for [p in '" ATOMIK_BENCH_PATHS(PLOT_NAME) "'] ARG2 every ::1 using "
		"(strcol(2) eq p && $1 == 1 ? $3 : 1/0):4 with linespoints title p\n";
	int status, fd[2];
	pid_t pid;

	if (pipe(fd))
		die(EXIT_OPFAIL, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid == 0) {
		dup2(fd[0], 0);
		close(fd[0]);
		close(fd[1]);
		execlp("gnuplot", "gnuplot", "-c", "/dev/stdin", png, csv, (char *)NULL);
		_exit(127);
	}
	close(fd[0]);
	if (pid > 0 && write(fd[1], script, sizeof(script) - 1) != sizeof(script) - 1)
		pid = -1;
	close(fd[1]);
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		die(EXIT_OPFAIL, "gnuplot failed or is not installed "
		    "(apt-get install gnuplot-nox)");
	printf("plot written to %s\n", png);
}

static int cmd_bench(int argc, char **argv)
{
	const char *u = "bench [--plot FILE.png [--from CSV]] [atomik-bench options]";
	char self[PATH_MAX], bench[PATH_MAX + 32], *slash;
	char csv[] = "/tmp/atomik-bench-XXXXXX";
	const char *plot = NULL, *from = NULL;
	int i, j = 0, status, fd;
	char *args[64];
	ssize_t len;
	pid_t pid;

	want_help(argc, argv, u);
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len < 0)
		die(EXIT_OPFAIL, "cannot find where atomik is installed");
	self[len] = 0;
	slash = strrchr(self, '/');
	*slash = 0;
	snprintf(bench, sizeof(bench), "%s/atomik-bench", self);
	args[j++] = bench;
	for (i = 1; i < argc && j < 60; i++) {
		if (!strcmp(argv[i], "--plot") && i + 1 < argc)
			plot = argv[++i];
		else if (!strcmp(argv[i], "--from") && i + 1 < argc)
			from = argv[++i];
		else
			args[j++] = argv[i];
	}
	if (from && !plot)
		usage_error(u);
	if (!plot) {
		args[j] = NULL;
		execv(bench, args);
		die(EXIT_OPFAIL, "cannot run %s: %s", bench, strerror(errno));
	}
	/* A CSV made earlier (in a VM, on another machine) is only drawn. */
	if (from) {
		plot_csv(from, plot);
		return 0;
	}
	args[j++] = "--csv";
	args[j] = NULL;
	fd = mkstemp(csv);
	if (fd < 0)
		die(EXIT_OPFAIL, "cannot make a temporary file: %s", strerror(errno));
	pid = fork();
	if (pid == 0) {
		dup2(fd, 1);
		execv(bench, args);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		unlink(csv);
		die(EXIT_OPFAIL, "%s failed", bench);
	}
	plot_csv(csv, plot);
	unlink(csv);
	return 0;
}

/*
 * What the cluster daemon says of itself: its status file, JSON of the
 * schema atomikd(8) documents, rewritten every second or five while it serves
 * (ATOMIK_STATE_DIR, default /run/atomik).  A small reader of JSON values
 * is enough for it.
 */
static uint64_t boot_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct jv {
	enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } type;
	double num;
	char *str;			/* J_STR; a member's name in an object */
	struct jv *kids;		/* J_ARR, J_OBJ */
	unsigned int n;
	char *name;
};

static const char *jp;

static void jws(void)
{
	while (*jp == ' ' || *jp == '\n' || *jp == '\t' || *jp == '\r')
		jp++;
}

static int jparse(struct jv *v, int depth);

static char *jstring(void)
{
	size_t cap = 16, n = 0;
	char *s = malloc(cap);

	if (*jp++ != '"' || !s)
		return NULL;
	while (*jp && *jp != '"') {
		if (*jp == '\\' && jp[1])
			jp++;
		if (n + 2 > cap && !(s = realloc(s, cap *= 2)))
			return NULL;
		s[n++] = *jp++;
	}
	if (*jp++ != '"') {
		free(s);
		return NULL;
	}
	s[n] = 0;
	return s;
}

static int jparse(struct jv *v, int depth)
{
	char *end;

	memset(v, 0, sizeof(*v));
	jws();
	if (depth > 16)
		return -1;
	if (*jp == '{' || *jp == '[') {
		char close = *jp == '{' ? '}' : ']';

		v->type = *jp++ == '{' ? J_OBJ : J_ARR;
		jws();
		if (*jp == close) {
			jp++;
			return 0;
		}
		for (;;) {
			struct jv kid;
			char *name = NULL;

			jws();
			if (v->type == J_OBJ) {
				name = jstring();
				jws();
				if (!name || *jp++ != ':')
					return -1;
			}
			if (jparse(&kid, depth + 1))
				return -1;
			kid.name = name;
			v->kids = realloc(v->kids, (v->n + 1) * sizeof(*v->kids));
			if (!v->kids)
				return -1;
			v->kids[v->n++] = kid;
			jws();
			if (*jp == ',') {
				jp++;
				continue;
			}
			return *jp++ == close ? 0 : -1;
		}
	}
	if (*jp == '"') {
		v->type = J_STR;
		v->str = jstring();
		return v->str ? 0 : -1;
	}
	if (!strncmp(jp, "true", 4) || !strncmp(jp, "false", 5)) {
		v->type = J_BOOL;
		v->num = *jp == 't';
		jp += *jp == 't' ? 4 : 5;
		return 0;
	}
	if (!strncmp(jp, "null", 4)) {
		jp += 4;
		return 0;
	}
	v->type = J_NUM;
	v->num = strtod(jp, &end);
	if (end == jp)
		return -1;
	jp = end;
	return 0;
}

static const struct jv *jget(const struct jv *o, const char *name)
{
	static const struct jv none;
	unsigned int i;

	for (i = 0; o && o->type == J_OBJ && i < o->n; i++)
		if (!strcmp(o->kids[i].name, name))
			return &o->kids[i];
	return &none;
}

static uint64_t jnum(const struct jv *o, const char *name)
{
	return (uint64_t)jget(o, name)->num;
}

static const char *jtext(const struct jv *o, const char *name)
{
	const struct jv *v = jget(o, name);

	return v->type == J_STR ? v->str : v->type == J_BOOL ? (v->num ? "yes" : "no") : "-";
}

static char *slurp(FILE *f)
{
	size_t cap = 4096, n = 0, got;
	char *buf = malloc(cap);

	while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += got;
		if (n + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	if (buf)
		buf[n] = 0;
	return buf;
}

static int cmd_cluster(int argc, char **argv)
{
	const char *u = "cluster status [--json]";
	const char *dir = getenv("ATOMIK_STATE_DIR");
	const struct jv *list, *c;
	char path[512], *text;
	struct jv doc;
	uint64_t pid, age;
	int json = 0, alive;
	unsigned int i;
	FILE *f;

	parse_args(&argc, argv, u, (const struct flag[]){ { "json", &json }, { NULL } });
	if (argc != 2 || strcmp(argv[1], "status"))
		usage_error(u);
	snprintf(path, sizeof(path), "%s/%s", dir ? dir : ATOMIKD_STATE_DIR, ATOMIKD_STATUS_FILE);
	f = fopen(path, "r");
	if (!f)
		die(EXIT_NODEV, "atomikd is not running here (no %s: %s)", path, strerror(errno));
	text = slurp(f);
	fclose(f);
	if (!text)
		die(EXIT_OPFAIL, "out of memory");
	jp = text;
	if (jparse(&doc, 0) || doc.type != J_OBJ || jget(&doc, "schema")->type != J_NUM ||
	    !(pid = jnum(&doc, "pid")))
		die(EXIT_BADFILE, "%s is not atomikd's status file", path);
	if (jnum(&doc, "schema") != ATOMIKD_STATUS_SCHEMA)
		die(EXIT_BADFILE, "%s is of status schema %" PRIu64 ", this command reads %d",
		    path, jnum(&doc, "schema"), ATOMIKD_STATUS_SCHEMA);
	alive = kill(pid, 0) == 0 || errno == EPERM;
	age = boot_ms() - jnum(&doc, "now_ms");

	if (json) {
		/* The daemon's document, and whether it still runs. */
		jp = text;
		jws();
		printf("{\"running\": %s, \"updated_ms_ago\": %" PRIu64 ", %s",
		       alive ? "true" : "false", age, jp + 1);
		free(text);
		return alive ? 0 : EXIT_OPFAIL;
	}
	printf("atomikd:   %s%s, node %" PRIu64 ", pid %" PRIu64 ", up %.1f s, status %.1f s old\n",
	       alive ? jtext(&doc, "state") : "not running", alive ? "" : " (its last status)",
	       jnum(&doc, "node"), pid, (jnum(&doc, "now_ms") - jnum(&doc, "started_ms")) / 1e3,
	       age / 1e3);
	printf("NATS:      %s\n", jget(&doc, "connected")->num ? "connected" : "disconnected");
	list = jget(&doc, "direct");
	for (i = 0; i < list->n; i++)
		printf("%s%" PRIu64 "%s", i ? ", " : "direct:    node ", (uint64_t)list->kids[i].num,
		       i + 1 < list->n ? "" : ": silent through the servers, reached at its own\n");
	if (jget(&doc, "checkpoint_failing")->num)
		printf("checkpoint: CANNOT BE WRITTEN: the remote rows are not written until it can\n");
	list = jget(&doc, "tables");
	for (i = 0; i < list->n; i++) {
		c = &list->kids[i];
		printf("table %s (id %" PRIu64 "): %s, %" PRIu64 " addresses, instance %s, "
		       "%" PRIu64 " contributors, %" PRIu64 " records, %" PRIu64
		       " blocks unpublished, %" PRIu64 " unwritten\n", jtext(c, "name"), jnum(c, "id"),
		       jtext(c, "state"), jnum(c, "nr_addrs"), jtext(c, "instance"),
		       jnum(c, "contributors"), jnum(c, "records"), jnum(c, "unpublished"),
		       jnum(c, "unwritten"));
		if (jget(c, "size_error")->type == J_STR)
			printf("  %s\n", jtext(c, "size_error"));
	}
	printf("peers:\n");
	list = jget(&doc, "peers");
	for (i = 0; i < list->n; i++) {
		c = &list->kids[i];
		printf("  node %-5" PRIu64 " session %s  %s, last message %.1f s ago, %" PRIu64
		       " messages\n", jnum(c, "node"), jtext(c, "session"),
		       jget(c, "in_sync")->num ? "in sync" : "behind or ahead",
		       jnum(c, "age_ms") / 1e3, jnum(c, "messages"));
	}
	printf("contributors:\n");
	list = jget(&doc, "contributors");
	for (i = 0; i < list->n; i++) {
		c = &list->kids[i];
		printf("  table %s node %-5" PRIu64 " instance %s  version %-20" PRIu64 " %s%s\n",
		       jtext(c, "table"), jnum(c, "node"), jtext(c, "instance"), jnum(c, "version"),
		       jget(c, "own")->num ? "this node's" : jget(c, "live")->num ? "live" : "frozen",
		       jnum(c, "folds") ? " (has collected earlier instances)" : "");
	}
	printf("counters:\n");
	list = jget(&doc, "counters");
	for (i = 0; i < list->n; i++)
		printf("  %-20s %" PRIu64 "\n", list->kids[i].name, (uint64_t)list->kids[i].num);
	printf("dropped, by cause:\n");
	list = jget(&doc, "dropped");
	for (i = 0; i < list->n; i++)
		printf("  %-20s %" PRIu64 "\n", list->kids[i].name, (uint64_t)list->kids[i].num);
	free(text);
	return alive ? 0 : EXIT_OPFAIL;
}

static int cmd_load(int argc, char **argv)
{
	return cmd_load_accum(argc, argv, 1);
}

static int cmd_accum(int argc, char **argv)
{
	return cmd_load_accum(argc, argv, 0);
}

/*
 * The commands: the one list that usage() prints and that --list-commands
 * gives the bash completion; make check-host checks that atomik(1) names
 * every command and option listed here.  words are what completes after
 * the name: subcommands, options (OPTION=FILE takes a file name), FILE for
 * a file argument.  Each usage line is "SYNOPSIS\tWHAT IT DOES".
 */
static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *words;
	const char *usage[4];
} commands[] = {
	{ "info", cmd_info, "--json", { "info [--json]\tdevice facts" } },
	{ "stat", cmd_stat, "--json --prometheus",
	  { "stat [--json | --prometheus]\toperation counters" } },
	{ "load", cmd_load, "", { "load ADDR VALUE\tset the state of ADDR" } },
	{ "accum", cmd_accum, "", { "accum ADDR DELTA\tXOR DELTA into ADDR" } },
	{ "read", cmd_read, "--dec --accum",
	  { "read [--dec] [--accum] ADDR [COUNT]\tprint states" } },
	{ "batch", cmd_batch, "FILE", { "batch [FILE]\taccumulate 'ADDR DELTA' lines" } },
	{ "save", cmd_save, "FILE", { "save FILE\tsave the table" } },
	{ "restore", cmd_restore, "FILE", { "restore FILE\trestore a saved table" } },
	{ "table", cmd_table, "create list destroy --replicated --json",
	  { "table create [--replicated] N\tcreate a table of N addresses",
	    "table list [--json]\tlist the tables",
	    "table destroy ID\tdestroy a table" } },
	{ "cluster", cmd_cluster, "status --json",
	  { "cluster status [--json]\twhat the cluster daemon sees" } },
	{ "demo", cmd_demo, "", { "demo\tthree nodes converge" } },
	{ "bench", cmd_bench, "--plot=FILE --from=FILE --csv --time --repeat --threads --sizes",
	  { "bench [--plot FILE.png [--from CSV]] [...]\trun the benchmark, or draw it" } },
};

#define NR_COMMANDS	(sizeof(commands) / sizeof(commands[0]))

/* The options before a command, as --list-commands gives them. */
#define GLOBAL_WORDS	"--device=FILE --table --help --version --list-commands"

static void usage(FILE *to)
{
	const char *const *u;
	unsigned int i;
	int len;

	fprintf(to, "usage: atomik [--device PATH] [--table ID] COMMAND [ARGS...]\n"
		"commands:\n");
	for (i = 0; i < NR_COMMANDS; i++) {
		for (u = commands[i].usage; u < commands[i].usage + 4 && *u; u++) {
			len = (int)strcspn(*u, "\t");
			if (len <= 30)
				fprintf(to, "  %-30.*s %s\n", len, *u, *u + len + 1);
			else
				fprintf(to, "  %.*s\n  %-30s %s\n", len, *u, "", *u + len + 1);
		}
	}
	fprintf(to, "'atomik COMMAND --help' for one command; atomik(1) for all.\n");
}

/* For the bash completion: a line per command, its name and its words,
 * and a line '-' with the options that go before a command. */
static void list_commands(void)
{
	unsigned int i;

	printf("- %s\n", GLOBAL_WORDS);
	for (i = 0; i < NR_COMMANDS; i++)
		printf("%s%s%s\n", commands[i].name, *commands[i].words ? " " : "",
		       commands[i].words);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		GLOBAL_OPTIONS,
		{ "version", no_argument, NULL, 'V' },
		{ "list-commands", no_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned int i;
	int opt;

	/* Options before the command ('+': the command ends them). */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
		if (take_global(opt))
			continue;
		switch (opt) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("atomik %s (libatomik %d.%d.%d)\n", ATOMIK_PACKAGE_VERSION,
			       ATOMIK_VERSION_MAJOR, ATOMIK_VERSION_MINOR, ATOMIK_VERSION_PATCH);
			return 0;
		case 'L':
			list_commands();
			return 0;
		default:
			bad_option(NULL, argv);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind - 1;
	argv += optind - 1;
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (i = 0; i < NR_COMMANDS; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "atomik: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
