// SPDX-License-Identifier: GPL-2.0
//
// atomik_core: a bank of 64-bit XOR accumulators behind the host interface
// that Documentation/atomik/fpga.rst describes (the register map is the
// contract with kmod/fpga.c; fpga/gen-regmap generates the offsets and
// bits for both sides from it).
//
// Host side, as a PCIe endpoint would present it after its BAR decoding:
//   - a 32-bit register port (reg_wr/reg_rd, byte offset reg_addr), read
//     data one cycle after reg_rd;
//   - a ring write port: the host's posted writes into the descriptor ring
//     window (one 16-byte entry, {addr, delta}, per ring_wr).
// The host writes entries, then RING_TAIL (the doorbell).  The core takes
// one entry per cycle: ring RAM read, address check, accumulator RAM
// read, XOR, write.  Back-to-back entries for the same address are exact:
// the value written in the cycle an entry's read was issued is forwarded.
// An entry whose address is out of range is counted and skipped.
`default_nettype none

module atomik_core #(
	parameter ADDR_BITS = 9,	// NADDRS = 2**ADDR_BITS
	parameter RING_BITS = 8		// ring entries = 2**RING_BITS
) (
	input  wire        clk,
	input  wire        rst,		// synchronous, active high

	input  wire        reg_wr,
	input  wire        reg_rd,
	input  wire [11:0] reg_addr,
	input  wire [31:0] reg_wdata,
	output reg  [31:0] reg_rdata,

	input  wire                 ring_wr,
	input  wire [RING_BITS-1:0] ring_idx,
	input  wire [31:0]          ring_addr,
	input  wire [63:0]          ring_delta,

	output wire        irq
);
	localparam NADDRS = 1 << ADDR_BITS;
	localparam RING = 1 << RING_BITS;

	// Register offsets and bits: generated from Documentation/atomik/fpga.rst.
`include "atomik_regs.vh"

	// Ring RAM: {addr, delta}, written by the host, read at head.
	reg [95:0] ring_mem [0:RING-1];
	// Accumulators.
	reg [63:0] acc_mem [0:NADDRS-1];

	reg [RING_BITS-1:0] head, tail;
	reg enable, irq_en, irq_pending;
	reg [31:0] err_count, err_addr;
	reg [31:0] cmd_addr;
	reg [63:0] cmd_data, rd_data;
	reg [1:0]  cmd;			// pending command: 0 none, 1 load, 2 read
	reg [63:0] deltas;
	reg        clearing;		// zeroing the accumulators after reset
	reg [ADDR_BITS:0] clear_idx;

	// Pipeline: F issues the ring read; D checks the entry and issues
	// the accumulator read; X XORs and writes.
	reg        d_valid;
	reg [95:0] d_entry;
	reg        x_valid;
	reg [ADDR_BITS-1:0] x_addr;
	reg [63:0] x_delta;
	reg        fwd_valid;		// the write issued with X's read
	reg [ADDR_BITS-1:0] fwd_addr;
	reg [63:0] fwd_value;
	reg [63:0] acc_rdata;
	reg        cmd_rd_wait;

	wire ring_empty = head == tail;
	wire pipe_empty = !d_valid && !x_valid;
	wire fetch = enable && !ring_empty && cmd == 2'd0 && !clearing;
	wire [31:0] d_addr = d_entry[95:64];
	wire d_good = d_addr < NADDRS;

	wire [63:0] x_old = fwd_valid && fwd_addr == x_addr ? fwd_value : acc_rdata;
	wire [63:0] x_new = x_old ^ x_delta;

	// Accumulator port: one read and one write per cycle.
	reg acc_we;
	reg [ADDR_BITS-1:0] acc_waddr, acc_raddr;
	reg [63:0] acc_wdata;
	reg acc_re;

	always @(*) begin
		acc_we = 1'b0;
		acc_waddr = x_addr;
		acc_wdata = x_new;
		acc_re = 1'b0;
		acc_raddr = d_addr[ADDR_BITS-1:0];
		if (clearing) begin
			acc_we = 1'b1;
			acc_waddr = clear_idx[ADDR_BITS-1:0];
			acc_wdata = 64'd0;
		end else if (x_valid) begin
			acc_we = 1'b1;
		end else if (cmd == 2'd1 && pipe_empty) begin
			acc_we = 1'b1;
			acc_waddr = cmd_addr[ADDR_BITS-1:0];
			acc_wdata = cmd_data;
		end
		if (d_valid && d_good) begin
			acc_re = 1'b1;
		end else if (cmd == 2'd2 && pipe_empty && !cmd_rd_wait) begin
			acc_re = 1'b1;
			acc_raddr = cmd_addr[ADDR_BITS-1:0];
		end
	end

	always @(posedge clk) begin
		if (acc_we)
			acc_mem[acc_waddr] <= acc_wdata;
		if (acc_re)
			acc_rdata <= acc_mem[acc_raddr];
	end

	always @(posedge clk) begin
		if (ring_wr)
			ring_mem[ring_idx] <= {ring_addr, ring_delta};
		if (fetch)
			d_entry <= ring_mem[head];
	end

	always @(posedge clk) begin
		if (rst) begin
			head <= 0;
			tail <= 0;
			enable <= 1'b0;
			irq_en <= 1'b0;
			irq_pending <= 1'b0;
			err_count <= 0;
			err_addr <= 0;
			cmd_addr <= 0;
			cmd_data <= 0;
			rd_data <= 0;
			cmd <= 2'd0;
			deltas <= 0;
			clearing <= 1'b1;
			clear_idx <= 0;
			d_valid <= 1'b0;
			x_valid <= 1'b0;
			fwd_valid <= 1'b0;
			cmd_rd_wait <= 1'b0;
		end else begin
			// Zeroing after reset, one address per cycle.
			if (clearing) begin
				clear_idx <= clear_idx + 1'b1;
				if (clear_idx == NADDRS - 1)
					clearing <= 1'b0;
			end

			// F -> D
			d_valid <= fetch;
			if (fetch)
				head <= head + 1'b1;

			// D -> X
			x_valid <= d_valid && d_good;
			x_addr <= d_addr[ADDR_BITS-1:0];
			x_delta <= d_entry[63:0];
			if (d_valid && !d_good) begin
				err_count <= err_count + 1'b1;
				err_addr <= d_addr;
			end

			// X: the write this cycle is what the next X must see.
			fwd_valid <= x_valid;
			fwd_addr <= x_addr;
			fwd_value <= x_new;
			if (x_valid)
				deltas <= deltas + 1'b1;

			// The ring ran dry after progress: interrupt.
			if (x_valid && ring_empty && !d_valid && !fetch)
				irq_pending <= 1'b1;

			// Commands run with the pipeline empty.
			if (cmd == 2'd1 && pipe_empty && !clearing) begin
				cmd <= 2'd0;
				fwd_valid <= 1'b0;
			end
			if (cmd == 2'd2 && pipe_empty && !clearing) begin
				if (cmd_rd_wait) begin
					rd_data <= acc_rdata;
					cmd <= 2'd0;
					cmd_rd_wait <= 1'b0;
				end else begin
					cmd_rd_wait <= 1'b1;
				end
			end

			// Register writes.
			if (reg_wr) begin
				case (reg_addr)
				R_CTRL: begin
					enable <= reg_wdata[CTRL_ENABLE];
					irq_en <= reg_wdata[CTRL_IRQ_EN];
					if (reg_wdata[CTRL_CLEAR_ERR]) begin
						err_count <= 0;
						err_addr <= 0;
					end
					if (reg_wdata[CTRL_RESET]) begin
						head <= 0;
						tail <= 0;
						err_count <= 0;
						err_addr <= 0;
						deltas <= 0;
						irq_pending <= 1'b0;
						cmd <= 2'd0;
						cmd_rd_wait <= 1'b0;
						clearing <= 1'b1;
						clear_idx <= 0;
						d_valid <= 1'b0;
						x_valid <= 1'b0;
						fwd_valid <= 1'b0;
					end
				end
				R_RING_TAIL: tail <= reg_wdata[RING_BITS-1:0];
				R_CMD_ADDR: cmd_addr <= reg_wdata;
				R_CMD_DATA_LO: cmd_data[31:0] <= reg_wdata;
				R_CMD_DATA_HI: cmd_data[63:32] <= reg_wdata;
				R_CMD: begin
					// A bad address or opcode is an error, not a command.
					if ((reg_wdata == CMD_LOAD || reg_wdata == CMD_READ) &&
					    cmd_addr < NADDRS && cmd == 2'd0)
						cmd <= reg_wdata[1:0];
					else begin
						err_count <= err_count + 1'b1;
						err_addr <= cmd_addr;
					end
				end
				R_IRQ_STATUS: if (reg_wdata[0]) irq_pending <= 1'b0;
				default: ;
				endcase
			end
		end
	end

	// Register reads, one cycle later.
	always @(posedge clk) begin
		if (reg_rd) begin
			case (reg_addr)
			R_ID:		reg_rdata <= ID_VALUE;
			R_VERSION:	reg_rdata <= VERSION_VALUE;
			R_NADDRS:	reg_rdata <= NADDRS;
			R_CAPS: begin
				reg_rdata <= 32'd0;
				reg_rdata[CAPS_LANES_HI:CAPS_LANES_LO] <= 8'd1;
				reg_rdata[CAPS_RING_ORDER_HI:CAPS_RING_ORDER_LO] <= RING_BITS;
				reg_rdata[CAPS_IRQ] <= 1'b1;
			end
			R_CTRL: begin
				reg_rdata <= 32'd0;
				reg_rdata[CTRL_ENABLE] <= enable;
				reg_rdata[CTRL_IRQ_EN] <= irq_en;
			end
			R_STATUS: begin
				reg_rdata <= 32'd0;
				reg_rdata[STATUS_BUSY] <= !ring_empty || !pipe_empty;
				reg_rdata[STATUS_ERROR] <= err_count != 0;
				reg_rdata[STATUS_CMD_BUSY] <= cmd != 2'd0;
				reg_rdata[STATUS_READY] <= !clearing;
			end
			R_RING_HEAD:	reg_rdata <= {{(32 - RING_BITS){1'b0}}, head};
			R_RING_TAIL:	reg_rdata <= {{(32 - RING_BITS){1'b0}}, tail};
			R_ERR_COUNT:	reg_rdata <= err_count;
			R_ERR_ADDR:	reg_rdata <= err_addr;
			R_CMD_ADDR:	reg_rdata <= cmd_addr;
			R_CMD:		reg_rdata <= {30'd0, cmd};
			R_CMD_DATA_LO:	reg_rdata <= cmd_data[31:0];
			R_CMD_DATA_HI:	reg_rdata <= cmd_data[63:32];
			R_RD_DATA_LO:	reg_rdata <= rd_data[31:0];
			R_RD_DATA_HI:	reg_rdata <= rd_data[63:32];
			R_DELTAS_LO:	reg_rdata <= deltas[31:0];
			R_DELTAS_HI:	reg_rdata <= deltas[63:32];
			R_IRQ_STATUS:	reg_rdata <= {31'd0, irq_pending};
			default:	reg_rdata <= 32'd0;
			endcase
		end
	end

	assign irq = irq_en && irq_pending;
endmodule

`default_nettype wire
