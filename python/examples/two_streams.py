# SPDX-License-Identifier: MIT
# The product brief's example, as the brief gives it: run by
# python/test_atomik_core.py, which also checks the values it implies.
from atomik_core import DeltaStream
# Node A and Node B converge without coordination
stream_a = DeltaStream()
stream_b = DeltaStream()
# Both start from the same reference state
stream_a.load(addr=0, initial_state=0xCAFEBABE)
stream_b.load(addr=0, initial_state=0xCAFEBABE)
# Each node accumulates different deltas
stream_a.accum(addr=0, delta=0x000000FF)
stream_b.accum(addr=0, delta=0x0000FF00)
# Exchange deltas in any order -- result is identical
stream_a.accum(addr=0, delta=0x0000FF00) # B's delta applied to A
stream_b.accum(addr=0, delta=0x000000FF) # A's delta applied to B
assert stream_a.read(0) == stream_b.read(0) # Always true
