// SPDX-License-Identifier: GPL-2.0
//
// Synthesis top for a small FPGA: atomik_core at its full size, reached
// through a 16-bit host bus (a PCIe endpoint does not fit the parts the
// open toolchain targets; its BAR decoding would drive the core's ports
// directly).  Words are shifted into a 112-bit register, then an opcode
// strobe uses them:
//   op 1  register write: sh[43:32] offset, sh[31:0] value
//   op 2  register read:  sh[11:0] offset; dout shows the value, half by
//         half with sel
//   op 3  ring write:     sh[111:104] index, sh[95:64] addr, sh[63:0] delta
`default_nettype none

module atomik_syn_top (
	input  wire        clk,
	input  wire        rst,
	input  wire [15:0] din,
	input  wire        shift,
	input  wire [1:0]  op,
	input  wire        sel,
	output wire [15:0] dout,
	output wire        irq
);
	reg [111:0] sh;
	reg reg_wr, reg_rd, ring_wr;
	reg [11:0] reg_addr;
	reg [31:0] reg_wdata;
	reg [7:0]  ring_idx;
	reg [31:0] ring_addr;
	reg [63:0] ring_delta;
	wire [31:0] reg_rdata;
	reg [31:0] rdata;
	reg rd_pending;

	always @(posedge clk) begin
		if (shift)
			sh <= {sh[95:0], din};
		reg_wr <= op == 2'd1;
		reg_rd <= op == 2'd2;
		ring_wr <= op == 2'd3;
		reg_addr <= op == 2'd1 ? sh[43:32] : sh[11:0];
		reg_wdata <= sh[31:0];
		ring_idx <= sh[111:104];
		ring_addr <= sh[95:64];
		ring_delta <= sh[63:0];
		rd_pending <= reg_rd;
		if (rd_pending)
			rdata <= reg_rdata;
	end

	atomik_core #(.ADDR_BITS(9), .RING_BITS(8)) core (
		.clk(clk), .rst(rst), .reg_wr(reg_wr), .reg_rd(reg_rd),
		.reg_addr(reg_addr), .reg_wdata(reg_wdata), .reg_rdata(reg_rdata),
		.ring_wr(ring_wr), .ring_idx(ring_idx), .ring_addr(ring_addr),
		.ring_delta(ring_delta), .irq(irq));

	assign dout = sel ? rdata[31:16] : rdata[15:0];
endmodule

`default_nettype wire
