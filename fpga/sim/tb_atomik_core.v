// SPDX-License-Identifier: GPL-2.0
//
// Self-checking testbench of atomik_core against a reference model (an
// array of 64-bit values XORed by the testbench itself).  Prints TAP; the
// simulation ends with $finish after the last test.
`default_nettype none

module tb_atomik_core;
	localparam ADDR_BITS = 6, RING_BITS = 4;	// small, to wrap often
	localparam NADDRS = 1 << ADDR_BITS, RING = 1 << RING_BITS;
`include "atomik_regs.vh"

	reg clk = 0, rst = 1;
	reg reg_wr = 0, reg_rd = 0;
	reg [11:0] reg_addr = 0;
	reg [31:0] reg_wdata = 0;
	wire [31:0] reg_rdata;
	reg ring_wr = 0;
	reg [RING_BITS-1:0] ring_idx = 0;
	reg [31:0] ring_addr = 0;
	reg [63:0] ring_delta = 0;
	wire irq;

	atomik_core #(.ADDR_BITS(ADDR_BITS), .RING_BITS(RING_BITS)) dut (
		.clk(clk), .rst(rst), .reg_wr(reg_wr), .reg_rd(reg_rd),
		.reg_addr(reg_addr), .reg_wdata(reg_wdata), .reg_rdata(reg_rdata),
		.ring_wr(ring_wr), .ring_idx(ring_idx), .ring_addr(ring_addr),
		.ring_delta(ring_delta), .irq(irq));

	always #5 clk = !clk;

	reg [63:0] model [0:NADDRS-1];
	reg [RING_BITS-1:0] tail;
	integer ntest = 0, nfail = 0, failed_now = 0;
	integer i, j, good;
	reg [31:0] r, a;
	reg [63:0] v, seed;

	task check(input [63:0] got, input [63:0] want, input [8*48-1:0] what);
		if (got !== want) begin
			$display("# %0s: got 0x%h, want 0x%h", what, got, want);
			failed_now = 1;
		end
	endtask

	task result(input [8*48-1:0] name);
		begin
			ntest = ntest + 1;
			if (failed_now) begin
				$display("not ok %0d %0s", ntest, name);
				nfail = nfail + 1;
			end else
				$display("ok %0d %0s", ntest, name);
			failed_now = 0;
		end
	endtask

	task wr(input [11:0] off, input [31:0] val);
		begin
			@(negedge clk);
			reg_wr = 1; reg_addr = off; reg_wdata = val;
			@(negedge clk);
			reg_wr = 0;
		end
	endtask

	task rd(input [11:0] off, output [31:0] val);
		begin
			@(negedge clk);
			reg_rd = 1; reg_addr = off;
			@(negedge clk);
			reg_rd = 0;
			val = reg_rdata;
		end
	endtask

	task wait_idle;
		integer n;
		begin
			n = 0;
			rd(R_STATUS, r);
			while ((r[STATUS_BUSY] || r[STATUS_CMD_BUSY] || !r[STATUS_READY]) && n < 10000) begin
				rd(R_STATUS, r);
				n = n + 1;
			end
			if (n >= 10000) begin
				$display("# the device never went idle");
				failed_now = 1;
			end
		end
	endtask

	// Write one entry at the tail (no doorbell).
	task put(input [31:0] addr, input [63:0] delta);
		begin
			@(negedge clk);
			ring_wr = 1; ring_idx = tail; ring_addr = addr; ring_delta = delta;
			@(negedge clk);
			ring_wr = 0;
			tail = tail + 1'b1;
			if (addr < NADDRS)
				model[addr] = model[addr] ^ delta;
		end
	endtask

	// Wait for room, put, ring the doorbell every few entries.
	task push(input [31:0] addr, input [63:0] delta, input doorbell);
		begin
			rd(R_RING_HEAD, r);
			if (((tail + 1'b1) & (RING - 1)) == r[RING_BITS-1:0])
				wr(R_RING_TAIL, tail);	// full: let the device go on
			while (((tail + 1'b1) & (RING - 1)) == r[RING_BITS-1:0])
				rd(R_RING_HEAD, r);
			put(addr, delta);
			if (doorbell)
				wr(R_RING_TAIL, tail);
		end
	endtask

	task read_acc(input [31:0] addr, output [63:0] val);
		begin
			wr(R_CMD_ADDR, addr);
			wr(R_CMD, 2);
			rd(R_CMD, r);
			while (r != 0)
				rd(R_CMD, r);
			rd(R_RD_DATA_LO, r);
			val[31:0] = r;
			rd(R_RD_DATA_HI, r);
			val[63:32] = r;
		end
	endtask

	task load_acc(input [31:0] addr, input [63:0] val);
		begin
			wr(R_CMD_ADDR, addr);
			wr(R_CMD_DATA_LO, val[31:0]);
			wr(R_CMD_DATA_HI, val[63:32]);
			wr(R_CMD, 1);
			rd(R_CMD, r);
			while (r != 0)
				rd(R_CMD, r);
			if (addr < NADDRS)
				model[addr] = val;
		end
	endtask

	task check_all(input [8*48-1:0] what);
		begin
			wait_idle;
			for (i = 0; i < NADDRS; i = i + 1) begin
				read_acc(i, v);
				check(v, model[i], what);
			end
		end
	endtask

	task soft_reset;
		begin
			wr(R_CTRL, 32'd1 << CTRL_RESET);
			tail = 0;
			for (i = 0; i < NADDRS; i = i + 1)
				model[i] = 0;
			wait_idle;
			wr(R_CTRL, 32'd1 << CTRL_ENABLE);
		end
	endtask

	function [63:0] next(input [63:0] s);	// xorshift64
		reg [63:0] t;
		begin
			t = s ^ (s << 13);
			t = t ^ (t >> 7);
			next = t ^ (t << 17);
		end
	endfunction

	initial begin
		$display("TAP version 13");
		$display("1..12");
		seed = 64'h5eed0a70111c;
		tail = 0;
		for (i = 0; i < NADDRS; i = i + 1)
			model[i] = 0;
		repeat (3) @(negedge clk);
		rst = 0;

		// 1: identification and capabilities.
		rd(R_ID, r);		check(r, ID_VALUE, "ID");
		rd(R_VERSION, r);	check(r, 32'h00010000, "VERSION");
		rd(R_NADDRS, r);	check(r, NADDRS, "NADDRS");
		rd(R_CAPS, r);
		check(r[CAPS_LANES_HI:CAPS_LANES_LO], 1, "CAPS.LANES");
		check(r[CAPS_RING_ORDER_HI:CAPS_RING_ORDER_LO], RING_BITS, "CAPS.RING_ORDER");
		result("identification");

		// 2: after reset every accumulator reads 0.
		wait_idle;
		wr(R_CTRL, 32'd1 << CTRL_ENABLE);
		check_all("zero after reset");
		result("accumulators_zero_after_reset");

		// 3: a random stream, many times round the ring.
		for (j = 0; j < 600; j = j + 1) begin
			seed = next(seed);
			push(seed[ADDR_BITS+7:8], next(seed), seed[0] | seed[1]);
		end
		wr(R_RING_TAIL, tail);
		check_all("random stream");
		rd(R_DELTAS_LO, r);	check(r, 600, "DELTAS");
		result("random_stream_wraps_ring");

		// 4: back to back on one address, and interleaved pairs.
		for (j = 0; j < 40; j = j + 1)
			push(5, 64'h1 << (j % 64), 0);
		wr(R_RING_TAIL, tail);
		for (j = 0; j < 40; j = j + 1)
			push(j % 3 == 2 ? 7 : 6, 64'hf0f0 + j, j % 5 == 4);
		wr(R_RING_TAIL, tail);
		check_all("back to back");
		result("back_to_back_same_address");

		// 5: a full ring (one entry stays empty) taken whole.
		wr(R_CTRL, 0);
		rd(R_RING_HEAD, r);
		for (j = 0; j < RING - 1; j = j + 1)
			put(j % 2, 64'h100 + j);
		wr(R_RING_TAIL, tail);
		rd(R_RING_HEAD, a);	check(a, r, "head moved while disabled");
		rd(R_STATUS, r);	check(r[STATUS_BUSY], 1, "busy with a full ring");
		wr(R_CTRL, 32'd1 << CTRL_ENABLE);
		check_all("full ring");
		result("full_ring");

		// 6: a doorbell with nothing new changes nothing.
		rd(R_DELTAS_LO, a);
		wr(R_RING_TAIL, tail);
		repeat (10) @(negedge clk);
		rd(R_DELTAS_LO, r);	check(r, a, "deltas after an empty doorbell");
		rd(R_STATUS, r);	check(r[STATUS_BUSY], 0, "busy after an empty doorbell");
		check_all("empty ring");
		result("empty_ring");

		// 7: bad entries are counted and skipped, the others applied.
		wr(R_CTRL, (32'd1 << CTRL_ENABLE) | (32'd1 << CTRL_CLEAR_ERR));
		push(3, 64'haaaa, 0);
		push(NADDRS, 64'hdead, 0);
		push(3, 64'h5555, 0);
		push(32'hffffffff, 64'hbeef, 1);
		wait_idle;
		rd(R_ERR_COUNT, r);	check(r, 2, "ERR_COUNT");
		rd(R_ERR_ADDR, r);	check(r, 32'hffffffff, "ERR_ADDR");
		rd(R_STATUS, r);	check(r[STATUS_ERROR], 1, "STATUS.ERROR");
		check_all("bad entries");
		wr(R_CTRL, (32'd1 << CTRL_ENABLE) | (32'd1 << CTRL_CLEAR_ERR));
		rd(R_ERR_COUNT, r);	check(r, 0, "ERR_COUNT cleared");
		result("bad_entries_skipped");

		// 8: LOAD sets, deltas then XOR onto it.
		load_acc(9, 64'h0123456789abcdef);
		push(9, 64'hff, 1);
		check_all("load");
		result("load_then_accumulate");

		// 9: refused commands: address out of range, unknown opcode.
		wr(R_CMD_ADDR, NADDRS);
		wr(R_CMD, 2);
		wr(R_CMD_ADDR, 1);
		wr(R_CMD, 3);
		rd(R_CMD, r);		check(r, 0, "CMD after refusals");
		rd(R_ERR_COUNT, r);	check(r, 2, "refused commands counted");
		check_all("refused commands");
		result("bad_commands_refused");

		// 10: soft reset in the middle of a stream: everything to 0, and
		// a new stream afterwards is exact.
		for (j = 0; j < RING - 1; j = j + 1)
			put(j % NADDRS, 64'h77 + j);
		wr(R_RING_TAIL, tail);
		repeat (4) @(negedge clk);
		soft_reset;
		rd(R_RING_HEAD, r);	check(r, 0, "head after reset");
		rd(R_DELTAS_LO, r);	check(r, 0, "deltas after reset");
		rd(R_ERR_COUNT, r);	check(r, 0, "errors after reset");
		check_all("after reset");
		for (j = 0; j < 50; j = j + 1) begin
			seed = next(seed);
			push(seed[ADDR_BITS+7:8], seed, 1);
		end
		check_all("stream after reset");
		result("reset_mid_stream");

		// 11: the interrupt: raised when the ring runs dry, W1C.
		wr(R_IRQ_STATUS, 1);
		wr(R_CTRL, (32'd1 << CTRL_ENABLE) | (32'd1 << CTRL_IRQ_EN));
		check(irq, 0, "irq before");
		push(1, 1, 1);
		wait_idle;
		check(irq, 1, "irq after the ring ran dry");
		rd(R_IRQ_STATUS, r);	check(r, 1, "IRQ_STATUS");
		wr(R_IRQ_STATUS, 1);
		check(irq, 0, "irq after W1C");
		result("interrupt_on_ring_progress");

		// 12: the pipeline under a hardware reset mid-stream.
		for (j = 0; j < RING - 1; j = j + 1)
			put(2, 64'h1);
		wr(R_RING_TAIL, tail);
		@(negedge clk);
		rst = 1;
		@(negedge clk);
		rst = 0;
		tail = 0;
		for (i = 0; i < NADDRS; i = i + 1)
			model[i] = 0;
		wait_idle;
		wr(R_CTRL, 32'd1 << CTRL_ENABLE);
		check_all("after hardware reset");
		push(2, 64'h42, 1);
		check_all("after hardware reset and a delta");
		result("hardware_reset_mid_stream");

		$display("# %0d passed, %0d failed", ntest - nfail, nfail);
		$finish;
	end

	initial begin
		#20000000;
		$display("not ok %0d timeout # the simulation did not finish", ntest + 1);
		$finish;
	end
endmodule

`default_nettype wire
