// SPDX-License-Identifier: GPL-2.0
/*
 * atomikd's checkpoints, STATE_DIR/table-ID.state: the bytes the core asks
 * for, written whole to a temporary file and renamed over the old one, or
 * appended; read back at start.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"

static void state_path(const struct akd_table_conf *tc, char *buf, size_t len,
		       const char *suffix)
{
	snprintf(buf, len, "%s/table-%u.state%s", cfg.state_dir, tc->id, suffix);
}

void persist_restore(struct akd_core *core, unsigned int t, const struct akd_table_conf *tc)
{
	char path[PATH_MAX];
	struct stat sb;
	uint8_t *buf;
	FILE *f;

	state_path(tc, path, sizeof(path), "");
	f = fopen(path, "r");
	if (!f) {
		if (errno != ENOENT)
			say("cannot read %s: %s", path, strerror(errno));
		return;
	}
	buf = NULL;
	if (!fstat(fileno(f), &sb))
		buf = malloc(sb.st_size ? sb.st_size : 1);
	if (buf && fread(buf, 1, sb.st_size, f) == (size_t)sb.st_size)
		akd_core_restore(core, t, buf, sb.st_size);
	else
		say("cannot read %s: %s", path, strerror(errno));
	free(buf);
	fclose(f);
}

static bool write_all(int fd, const void *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p = (const char *)p + n;
		len -= n;
	}
	return true;
}

/* The core's bytes for one table: false when they could not be written. */
bool persist_write(const struct akd_table_conf *tc, const struct akd_persist *p)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int fd, err;
	bool ok;

	state_path(tc, path, sizeof(path), "");
	state_path(tc, tmp, sizeof(tmp), ".tmp");
	fd = p->replace ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) :
			  open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0) {
		say("cannot write %s: %s", p->replace ? tmp : path, strerror(errno));
		return false;
	}
	ok = write_all(fd, p->buf, p->len);
	err = errno;
	if (close(fd))
		ok = false;
	if (ok && p->replace && rename(tmp, path))
		ok = false;
	if (!ok) {
		say("cannot write %s: %s", path, strerror(err ? err : errno));
		if (p->replace)
			unlink(tmp);
	}
	return ok;
}
