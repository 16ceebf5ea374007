// SPDX-License-Identifier: GPL-2.0
/*
 * atomik-cosim: the device end of the co-simulation.  QEMU's ivshmem-plain
 * device gives the guest a BAR backed by a shared-memory file; this process
 * maps the same file and plays the FPGA by running the project's RTL
 * (atomik_core, compiled by Verilator) against it, clock cycle by clock
 * cycle.  It stands where a PCIe endpoint's BAR decoding would:
 *
 *   - a register the guest writes (a store into the shared page) becomes a
 *     register write on the core's port; self-clearing bits and commands
 *     are cleared in the page once the core has taken them;
 *   - ring entries between the old and the new RING_TAIL are written into
 *     the core's ring before the doorbell itself, as posted writes arrive;
 *   - the registers the core owns are read back through its port and
 *     stored into the page, RING_HEAD before STATUS.
 *
 * The clock stops while nothing is pending (the page is then polled every
 * 50 microseconds) so that an idle device costs the host no CPU.  When
 * KILL_FILE appears (the VM runner passes one in the run folder the guest
 * shares), the process exits at once, as a crashed device would stop, for
 * the tests of the driver's timeout path.
 *
 * With --server SOCKET it is also the ivshmem server of QEMU's
 * ivshmem-doorbell device (docs/specs/ivshmem-spec in QEMU's sources): it
 * hands QEMU the shared memory and one eventfd, and turns the core's
 * interrupt line into a message on it, which QEMU delivers as MSI-X vector
 * 0.  As a PCIe endpoint's MSI logic would, it clears IRQ_STATUS in the core
 * when it sends the message.  Without --server, the guest has no interrupt
 * (ivshmem-plain) and the driver polls.
 *
 * Usage: atomik-cosim [--server SOCKET] SHM_FILE [KILL_FILE]
 *        (SHM_FILE: the file QEMU's memory backend maps, or the server hands)
 */
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "Vatomik_core.h"
#include "verilated.h"

/* The register map's header is the driver's: give it the kernel's macros. */
#define BIT(n)		(1u << (n))
#define GENMASK(h, l)	((~0u << (l)) & (~0u >> (31 - (h))))
#include "atomik_fpga_regs.h"

#define CTRL_SELF_CLEARING	(ATOMIK_FPGA_CTRL_RESET | ATOMIK_FPGA_CTRL_CLEAR_ERR)

static volatile uint32_t *regs;
static volatile uint8_t *page;
static Vatomik_core *core;
static uint64_t cycles;
static volatile sig_atomic_t done;

static void tick()
{
	core->clk = 0;
	core->eval();
	core->clk = 1;
	core->eval();
	cycles++;
}

static void reg_write(uint32_t off, uint32_t v)
{
	core->reg_wr = 1;
	core->reg_addr = off;
	core->reg_wdata = v;
	tick();
	core->reg_wr = 0;
}

static uint32_t reg_read(uint32_t off)
{
	core->reg_rd = 1;
	core->reg_addr = off;
	tick();
	core->reg_rd = 0;
	return core->reg_rdata;
}

static uint32_t page_rd(uint32_t off)
{
	return __atomic_load_n(&regs[off / 4], __ATOMIC_ACQUIRE);
}

static void page_wr(uint32_t off, uint32_t v)
{
	__atomic_store_n(&regs[off / 4], v, __ATOMIC_RELEASE);
}

/* What the core owns, into the page; RING_HEAD before STATUS. */
static void publish()
{
	static const uint32_t ro[] = {
		ATOMIK_FPGA_RING_HEAD, ATOMIK_FPGA_STATUS, ATOMIK_FPGA_ERR_COUNT,
		ATOMIK_FPGA_ERR_ADDR, ATOMIK_FPGA_DELTAS_LO, ATOMIK_FPGA_DELTAS_HI,
		ATOMIK_FPGA_IRQ_STATUS,
	};

	for (uint32_t off : ro)
		page_wr(off, reg_read(off));
}

static void on_signal(int)
{
	done = 1;
}

/* The ivshmem server side: one client (QEMU), one interrupt vector. */
static int listen_fd = -1, client_fd = -1, irq_fd = -1;

static int send_msg(int sock, int64_t v, int fd)
{
	char ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &v, sizeof(v) };
	struct msghdr msg = {};

	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (fd >= 0) {
		memset(ctl, 0, sizeof(ctl));
		msg.msg_control = ctl;
		msg.msg_controllen = sizeof(ctl);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &msg, 0) == (ssize_t)sizeof(v) ? 0 : -1;
}

static int server_listen(const char *path)
{
	struct sockaddr_un sa = {};

	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, path);
	unlink(path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(listen_fd, 1))
		return -1;
	return 0;
}

/* Protocol version 0, the client's id, the memory, its vector's eventfd. */
static void server_accept(int shm_fd)
{
	const int64_t id = 1;
	int c = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
	int efd;

	if (c < 0)
		return;
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0 || send_msg(c, 0, -1) || send_msg(c, id, -1) ||
	    send_msg(c, -1, shm_fd) || send_msg(c, id, efd)) {
		fprintf(stderr, "atomik-cosim: the ivshmem setup with QEMU failed\n");
		close(c);
		return;
	}
	client_fd = c;
	irq_fd = efd;
	close(listen_fd);
	listen_fd = -1;
	fprintf(stderr, "atomik-cosim: QEMU connected; interrupts go to MSI-X vector 0\n");
}

int main(int argc, char **argv)
{
	uint32_t sh_ctrl = 0, sh_tail = 0, sh_addr = 0, sh_lo = 0, sh_hi = 0;
	uint32_t ring_mask, idle = 0, loops = 0;
	const char *server = nullptr, *kill_file;
	uint64_t irqs = 0;
	struct stat st;
	int fd;

	if (argc > 2 && !strcmp(argv[1], "--server")) {
		server = argv[2];
		argc -= 2;
		argv += 2;
	}
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: atomik-cosim [--server SOCKET] SHM_FILE [KILL_FILE]\n");
		return 2;
	}
	kill_file = argc > 2 ? argv[2] : nullptr;
	if (server && server_listen(server)) {
		perror(server);
		return 1;
	}
	fd = open(argv[1], O_RDWR);
	if (fd < 0 || fstat(fd, &st) || st.st_size < 2 * ATOMIK_FPGA_RING_OFFSET) {
		perror(argv[1]);
		return 1;
	}
	page = (volatile uint8_t *)mmap(nullptr, st.st_size, PROT_READ | PROT_WRITE,
					MAP_SHARED, fd, 0);
	if (page == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	regs = (volatile uint32_t *)page;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	Verilated::commandArgs(argc, argv);
	core = new Vatomik_core;
	core->rst = 1;
	for (int i = 0; i < 4; i++)
		tick();
	core->rst = 0;

	/* The identification registers, then the rest of the page's view. */
	memset((void *)page, 0, 2 * ATOMIK_FPGA_RING_OFFSET);
	for (uint32_t off : { ATOMIK_FPGA_VERSION, ATOMIK_FPGA_NADDRS, ATOMIK_FPGA_CAPS })
		page_wr(off, reg_read(off));
	ring_mask = (1u << ((reg_read(ATOMIK_FPGA_CAPS) >> 8) & 0xff)) - 1;
	if (ATOMIK_FPGA_RING_OFFSET + (uint64_t)ATOMIK_FPGA_RING_ENTRY * (ring_mask + 1) >
	    (uint64_t)st.st_size) {
		fprintf(stderr, "atomik-cosim: the ring does not fit in %s\n", argv[1]);
		return 1;
	}
	publish();
	page_wr(ATOMIK_FPGA_ID, reg_read(ATOMIK_FPGA_ID));	/* last: ready */
	fprintf(stderr, "atomik-cosim: %u addresses, %u-entry ring, serving %s\n",
		page_rd(ATOMIK_FPGA_NADDRS), ring_mask + 1, argv[1]);

	while (!done) {
		bool busy = false;
		uint32_t v;

		if ((++loops % 1024 == 0 || idle > 1000) && kill_file &&
		    access(kill_file, F_OK) == 0) {
			char how[16] = "";
			FILE *k = fopen(kill_file, "r");

			/* "remove": the registers then read as a device
			 * that left the bus reads, all ones. */
			if (k && fgets(how, sizeof(how), k) && !strncmp(how, "remove", 6))
				memset((void *)page, 0xff, ATOMIK_FPGA_RING_OFFSET);
			if (k)
				fclose(k);
			fprintf(stderr, "atomik-cosim: killed by %s after %llu cycles, %llu interrupts sent%s\n",
				kill_file, (unsigned long long)cycles, (unsigned long long)irqs,
				how[0] == 'r' ? "; registers read all ones" : "");
			_exit(3);
		}
		v = page_rd(ATOMIK_FPGA_CTRL);
		if (v != sh_ctrl || (v & CTRL_SELF_CLEARING)) {
			reg_write(ATOMIK_FPGA_CTRL, v);
			/* A reset puts RING_TAIL to 0, in the core and in the
			 * page: what the page held is no doorbell. */
			if (v & ATOMIK_FPGA_CTRL_RESET) {
				page_wr(ATOMIK_FPGA_RING_TAIL, 0);
				sh_tail = 0;
			}
			sh_ctrl = v & ~CTRL_SELF_CLEARING;
			if (v & CTRL_SELF_CLEARING)
				page_wr(ATOMIK_FPGA_CTRL, sh_ctrl);
			busy = true;
		}
		v = page_rd(ATOMIK_FPGA_RING_TAIL) & ring_mask;
		if (v != sh_tail) {
			for (uint32_t i = sh_tail; i != v; i = (i + 1) & ring_mask) {
				const volatile uint8_t *e = page + ATOMIK_FPGA_RING_OFFSET +
							    ATOMIK_FPGA_RING_ENTRY * i;
				uint64_t delta;
				uint32_t addr;

				memcpy(&addr, (const void *)e, 4);
				memcpy(&delta, (const void *)(e + 8), 8);
				core->ring_wr = 1;
				core->ring_idx = i;
				core->ring_addr = addr;
				core->ring_delta = delta;
				tick();
				core->ring_wr = 0;
			}
			reg_write(ATOMIK_FPGA_RING_TAIL, v);
			sh_tail = v;
			busy = true;
		}
		if ((v = page_rd(ATOMIK_FPGA_CMD_ADDR)) != sh_addr)
			reg_write(ATOMIK_FPGA_CMD_ADDR, sh_addr = v);
		if ((v = page_rd(ATOMIK_FPGA_CMD_DATA_LO)) != sh_lo)
			reg_write(ATOMIK_FPGA_CMD_DATA_LO, sh_lo = v);
		if ((v = page_rd(ATOMIK_FPGA_CMD_DATA_HI)) != sh_hi)
			reg_write(ATOMIK_FPGA_CMD_DATA_HI, sh_hi = v);
		v = page_rd(ATOMIK_FPGA_CMD);
		if (v) {
			/*
			 * The guest wrote the address and data before the
			 * command: read them again now that the command is
			 * seen, or a command written just after the reads
			 * above would run with the previous address.
			 */
			uint32_t a = page_rd(ATOMIK_FPGA_CMD_ADDR);
			uint32_t lo = page_rd(ATOMIK_FPGA_CMD_DATA_LO);
			uint32_t hi = page_rd(ATOMIK_FPGA_CMD_DATA_HI);

			if (a != sh_addr)
				reg_write(ATOMIK_FPGA_CMD_ADDR, sh_addr = a);
			if (lo != sh_lo)
				reg_write(ATOMIK_FPGA_CMD_DATA_LO, sh_lo = lo);
			if (hi != sh_hi)
				reg_write(ATOMIK_FPGA_CMD_DATA_HI, sh_hi = hi);
			reg_write(ATOMIK_FPGA_CMD, v);
			while (reg_read(ATOMIK_FPGA_CMD) != 0)
				;
			page_wr(ATOMIK_FPGA_RD_DATA_LO, reg_read(ATOMIK_FPGA_RD_DATA_LO));
			page_wr(ATOMIK_FPGA_RD_DATA_HI, reg_read(ATOMIK_FPGA_RD_DATA_HI));
			publish();
			page_wr(ATOMIK_FPGA_CMD, 0);
			busy = true;
		}
		publish();
		/* The interrupt line, as a message; sending it clears it. */
		if (core->irq) {
			uint64_t one = 1;

			if (irq_fd >= 0 && write(irq_fd, &one, sizeof(one)) == sizeof(one))
				irqs++;
			reg_write(ATOMIK_FPGA_IRQ_STATUS, 1);
		}
		if (listen_fd >= 0 && loops % 64 == 0)
			server_accept(fd);
		if (page_rd(ATOMIK_FPGA_STATUS) & (ATOMIK_FPGA_STATUS_BUSY | ATOMIK_FPGA_STATUS_CMD_BUSY) ||
		    !(page_rd(ATOMIK_FPGA_STATUS) & ATOMIK_FPGA_STATUS_READY))
			busy = true;
		if (busy)
			idle = 0;
		else if (++idle > 1000)
			usleep(50);
	}
	fprintf(stderr, "atomik-cosim: stopped after %llu cycles, %llu interrupts sent\n",
		(unsigned long long)cycles, (unsigned long long)irqs);
	delete core;
	return 0;
}
