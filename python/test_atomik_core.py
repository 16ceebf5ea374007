# SPDX-License-Identifier: GPL-2.0
"""atomik_core against the loaded module, with python3's unittest.

Runs inside the VM (selftests/python_test.sh) as root with atomik.ko
loaded, and prints TAP.  Every bad input is checked to raise the documented
exception and to change nothing: the states it could have touched and the
module's counters (/sys/class/misc/atomik/) are read before and after.
"""
import array
import errno
import gc
import os
import runpy
import subprocess
import sys
import threading
import time
import unittest

import atomik_core
from atomik_core import DeltaStream

HERE = os.path.dirname(os.path.abspath(__file__))
SYSFS = "/sys/class/misc/atomik/"
MAX_TABLES = 1024
MAX_ADDRS = 16777216
BRIEF = 0xCAFEBABE ^ 0xFF ^ 0xFF00        # what the brief's streams read


def sysfs(name):
    with open(SYSFS + name) as f:
        return int(f.read())


def counters():
    return {c: sysfs(c) for c in ("deltas", "batches", "reads", "loads", "swaps",
                                  "nr_tables")}


def free_table_id():
    """A table id no table has (tables are listed by selecting each id)."""
    for t in range(MAX_TABLES - 1, 0, -1):
        try:
            DeltaStream(t).close()
        except FileNotFoundError:
            return t
    raise AssertionError("every table id is in use")


def pairs(*p):
    """(addr, delta) pairs as a batch: unsigned 64-bit integers."""
    return array.array("Q", [v for pair in p for v in pair])


class Case(unittest.TestCase):
    def setUp(self):
        self.tables = sysfs("nr_tables")

    def tearDown(self):
        gc.collect()
        # Whatever a test opened, its private tables are gone again.
        self.assertEqual(sysfs("nr_tables"), self.tables, "private tables left behind")

    def assertUnchanged(self, stream, addrs, before_states, before_counters):
        """Nothing reached the device: states and operation counters."""
        self.assertEqual([stream.read(a) for a in addrs], before_states)
        after = counters()
        after["reads"] -= len(addrs)    # the reads just made
        self.assertEqual(after, before_counters)

    def assertRefused(self, exc, fn, *args, **kw):
        """fn(*args, **kw) raises exc and changes nothing on the stream."""
        s = self.stream
        states = [s.read(a) for a in self.watch]
        before = counters()
        with self.assertRaises(exc) as cm:
            fn(*args, **kw)
        self.assertTrue(str(cm.exception), "an exception without a message")
        self.assertUnchanged(s, self.watch, states, before)
        return cm.exception


class TestBrief(Case):
    """The product brief's example, unchanged."""

    example = os.path.join(HERE, "examples", "two_streams.py")

    def test_runs_unchanged_as_a_script(self):
        r = subprocess.run([sys.executable, self.example], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")

    def test_both_streams_read_what_the_brief_implies(self):
        g = runpy.run_path(self.example)
        a, b = g["stream_a"], g["stream_b"]
        try:
            self.assertEqual(a.read(0), 0xCAFE4541)
            self.assertEqual(b.read(0), 0xCAFE4541)
            self.assertEqual(BRIEF, 0xCAFE4541)
            # Two nodes: two private tables, each the other's stranger.
            self.assertNotEqual(a.table, b.table)
            self.assertTrue(a.private and b.private)
            self.assertEqual(sysfs("nr_tables"), self.tables + 2)
        finally:
            a.close()
            b.close()


class TestReadme(Case):
    """The README's Python example, taken from the README itself."""

    def test_readme_example(self):
        readme = os.path.join(HERE, "..", "README.md")
        code, block = [], False
        with open(readme) as f:
            for line in f:
                if line.rstrip() in ("```python", "```"):
                    block = line.rstrip() == "```python"
                    if not block and code:
                        break
                elif block:
                    code.append(line)
        self.assertGreater(len(code), 5, "no python block in README.md")
        exec(compile("".join(code), "README.md", "exec"), {})


class TestStream(Case):
    def test_private_table_lives_as_long_as_the_stream(self):
        s = DeltaStream()
        self.assertTrue(s.private)
        self.assertEqual(s.size, atomik_core.DEFAULT_SIZE)
        self.assertEqual(sysfs("nr_tables"), self.tables + 1)
        t = s.table
        self.assertGreater(t, 0)
        # Another stream can open it by id while it lives...
        with DeltaStream(t) as other:
            self.assertFalse(other.private)
            self.assertEqual(other.size, s.size)
        s.close()
        self.assertTrue(s.closed)
        self.assertEqual(sysfs("nr_tables"), self.tables)
        # ...and not once it is closed.
        with self.assertRaises(FileNotFoundError) as cm:
            DeltaStream(t)
        self.assertEqual(cm.exception.errno, errno.ENOENT)
        self.assertIn("no such table", str(cm.exception))

    def test_private_table_destroyed_when_collected(self):
        s = DeltaStream(size=8)
        self.assertEqual(sysfs("nr_tables"), self.tables + 1)
        del s
        gc.collect()
        self.assertEqual(sysfs("nr_tables"), self.tables)

    def test_context_manager_closes(self):
        with DeltaStream(size=4) as s:
            s.load(3, 7)
            self.assertEqual(s.read(3), 7)
        self.assertTrue(s.closed)
        self.assertEqual(sysfs("nr_tables"), self.tables)
        # Also when the block raises, which then propagates.
        with self.assertRaises(KeyError):
            with DeltaStream(size=4) as s:
                raise KeyError("inside")
        self.assertTrue(s.closed)

    def test_load_accum_read_swap(self):
        with DeltaStream(size=16) as s:
            self.assertEqual(s.read(5), 0)      # a new table reads 0
            s.load(addr=5, initial_state=0xCAFEBABE)
            s.accum(addr=5, delta=0xFF)
            self.assertEqual(s.read(addr=5), 0xCAFEBA41)
            self.assertEqual(s.swap(addr=5, value=0x1000), 0xCAFEBA41)
            self.assertEqual(s.read(5), 0x1000)
            s.accum(5, 0x0001)
            self.assertEqual(s.read(5), 0x1001)
            s.accum(5, 0x0001)                  # a delta given twice cancels
            self.assertEqual(s.read(5), 0x1000)
            top = 2**64 - 1
            s.load(15, top)
            self.assertEqual(s.read(15), top)
            s.accum(15, top)
            self.assertEqual(s.read(15), 0)
            self.assertEqual(s.read(4), 0)      # neighbours untouched
            self.assertEqual(s.read(6), 0)

    def test_counters_count_each_call(self):
        with DeltaStream(size=4) as s:
            before = counters()
            s.load(0, 1)
            s.accum(0, 2)
            s.accum(1, 3)
            s.read(0)
            s.swap(0, 4)
            after = counters()
        self.assertEqual(after["loads"] - before["loads"], 1)
        self.assertEqual(after["deltas"] - before["deltas"], 2)
        self.assertEqual(after["reads"] - before["reads"], 1)
        self.assertEqual(after["swaps"] - before["swaps"], 1)

    def test_numpy_like_integers_are_taken(self):
        class Index:
            def __index__(self):
                return 2

        with DeltaStream(size=4) as s:
            s.accum(Index(), Index())
            self.assertEqual(s.read(2), 2)
            s.accum(True, 1)                    # a bool is an int
            self.assertEqual(s.read(1), 1)

    def test_argument_that_closes_the_stream(self):
        # Converting an argument runs its __index__, which may close the
        # stream: the call then finds it closed instead of using it.
        for name, closing in (("load", 0), ("accum", 1), ("read", 0), ("swap", 1)):
            with self.subTest(fn=name):
                s = DeltaStream(size=4)

                class Closer:
                    def __index__(self):
                        s.close()
                        return 1

                args = [1, 1][:1 if name == "read" else 2]
                args[closing] = Closer()
                before = counters()
                with self.assertRaises(ValueError) as cm:
                    getattr(s, name)(*args)
                self.assertIn("closed", str(cm.exception))
                self.assertTrue(s.closed)
                # Nothing reached the device; the close destroyed the table.
                after = counters()
                self.assertEqual(after.pop("nr_tables"), before.pop("nr_tables") - 1)
                self.assertEqual(after, before)

    def test_existing_table_by_id(self):
        a = DeltaStream(size=32)
        b = DeltaStream(table=a.table)
        self.assertEqual((b.table, b.size, b.private), (a.table, 32, False))
        b.accum(31, 0xAB)
        self.assertEqual(a.read(31), 0xAB)
        a.close()                               # destroys the table under b
        with self.assertRaises(OSError) as cm:
            b.read(31)
        self.assertEqual(cm.exception.errno, errno.ENODEV)
        self.assertIn("destroyed", str(cm.exception))
        b.close()

    def test_table_zero_is_shared(self):
        with DeltaStream(0) as a, DeltaStream(table=0) as b:
            self.assertEqual(a.size, sysfs("nr_addrs"))
            last = a.size - 1
            old = a.read(last)
            a.accum(last, 0x5A)
            self.assertEqual(b.read(last), old ^ 0x5A)
            b.accum(last, 0x5A)
            self.assertEqual(a.read(last), old)

    def test_size(self):
        with DeltaStream(size=1) as s:
            self.assertEqual(s.size, 1)
            s.accum(0, 1)
            self.assertEqual(s.read(0), 1)
        with DeltaStream(size=10) as s:
            s.accum(9, 9)
            self.assertEqual(s.read(9), 9)

    def test_repr(self):
        s = DeltaStream(size=3)
        self.assertEqual(repr(s), "<atomik_core.DeltaStream table=%d size=3 private>" % s.table)
        s.close()
        self.assertEqual(repr(s), "<atomik_core.DeltaStream closed>")


class TestBatch(Case):
    def check_batch(self, s, p, model):
        n = len(p) // 2 if isinstance(p, array.array) else None
        before = sysfs("deltas")
        got = s.accum_batch(p)
        if n is not None:
            self.assertEqual(got, n)
        self.assertEqual(sysfs("deltas") - before, got)
        for a, v in model.items():
            self.assertEqual(s.read(a), v, "address %d" % a)
        return got

    def test_layouts(self):
        with DeltaStream(size=8) as s:
            model = {a: 0 for a in range(8)}

            def apply(*p):
                for a, d in p:
                    model[a] ^= d

            p = ((0, 1), (7, 2**64 - 1), (0, 0x100), (3, 5))
            apply(*p)
            self.check_batch(s, pairs(*p), model)
            p = ((1, 0x11), (2, 0x22))
            apply(*p)
            self.assertEqual(self.check_batch(s, pairs(*p).tobytes(), model), 2)
            apply(*p)
            self.assertEqual(self.check_batch(s, bytearray(pairs(*p).tobytes()), model), 2)
            # A two-dimensional view, as a NumPy array of shape (n, 2).
            apply(*p)
            m = memoryview(pairs(*p).tobytes()).cast("Q", shape=[2, 2])
            self.assertEqual(self.check_batch(s, m, model), 2)
            # Signed 64-bit items are the same bits.
            apply((4, 2**64 - 1))
            self.assertEqual(self.check_batch(s, array.array("q", [4, -1]), model), 1)

    def test_empty(self):
        with DeltaStream(size=2) as s:
            before = counters()
            self.assertEqual(s.accum_batch(b""), 0)
            self.assertEqual(s.accum_batch(array.array("Q")), 0)
            self.assertEqual(counters()["deltas"], before["deltas"])

    def test_more_than_one_call(self):
        # 70000 pairs: past ATOMIK_MAX_BATCH (65536), so two calls.
        n, size = 70000, 4096
        p = array.array("Q")
        model = [0] * size
        for i in range(n):
            a, d = (i * 7) % size, (i * 0x9E3779B97F4A7C15) & (2**64 - 1)
            p.extend((a, d))
            model[a] ^= d
        with DeltaStream(size=size) as s:
            before = counters()
            self.assertEqual(s.accum_batch(p), n)
            after = counters()
            self.assertEqual(after["deltas"] - before["deltas"], n)
            self.assertEqual(after["batches"] - before["batches"], 2)
            self.assertEqual([s.read(a) for a in range(size)], model)

    def test_threads(self):
        # Batches run without the GIL: threads at once, the result exact.
        size, rounds, nthreads = 64, 20, 4
        model = [0] * size
        batches = []
        for t in range(nthreads):
            p = array.array("Q")
            for i in range(1000):
                a, d = (i + t) % size, (t + 1) << (i % 60)
                p.extend((a, d))
            batches.append(p)
            for _ in range(rounds):
                for i in range(0, len(p), 2):
                    model[p[i]] ^= p[i + 1]
        with DeltaStream(size=size) as s:
            errors = []

            def run(p):
                try:
                    for _ in range(rounds):
                        s.accum_batch(p)
                except Exception as e:          # noqa: BLE001 (reported below)
                    errors.append(e)

            ts = [threading.Thread(target=run, args=(p,)) for p in batches]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            self.assertEqual(errors, [])
            self.assertEqual([s.read(a) for a in range(size)], model)


class TestBadInput(Case):
    """Each bad input: the documented exception, and nothing changed."""

    def setUp(self):
        super().setUp()
        self.stream = DeltaStream(size=16)
        self.watch = [0, 15]
        self.stream.load(0, 0x1234)
        self.stream.load(15, 0x5678)

    def tearDown(self):
        self.stream.close()
        super().tearDown()

    def bad_addrs(self, fn, *rest):
        for addr, exc in ((-1, ValueError), (16, ValueError), (2**32, ValueError),
                          (2**64, ValueError), (-2**70, ValueError), (1.0, TypeError),
                          ("0", TypeError), (None, TypeError), (b"\0", TypeError)):
            with self.subTest(addr=addr):
                e = self.assertRefused(exc, fn, addr, *rest)
                if exc is ValueError:
                    self.assertIn("outside table %d" % self.stream.table, str(e))

    def bad_values(self, fn, name):
        for v, exc in ((-1, ValueError), (2**64, ValueError), (1.5, TypeError),
                       ("1", TypeError), (None, TypeError)):
            with self.subTest(value=v):
                e = self.assertRefused(exc, fn, 0, v)
                self.assertIn(name, str(e))

    def test_load(self):
        s = self.stream
        self.bad_addrs(s.load, 1)
        self.bad_values(s.load, "initial_state")
        self.assertRefused(TypeError, s.load, 0)
        self.assertRefused(TypeError, s.load, addr=0, delta=1)

    def test_accum(self):
        s = self.stream
        self.bad_addrs(s.accum, 1)
        self.bad_values(s.accum, "delta")
        self.assertRefused(TypeError, s.accum, 0, 1, 2)

    def test_read(self):
        self.bad_addrs(self.stream.read)
        self.assertRefused(TypeError, self.stream.read)

    def test_swap(self):
        s = self.stream
        self.bad_addrs(s.swap, 1)
        self.bad_values(s.swap, "value")

    def test_accum_batch(self):
        s = self.stream
        for p, exc, says in (
                ([0, 1], TypeError, "buffer"),                      # a list
                ("0 1", TypeError, "buffer"),
                (None, TypeError, "buffer"),
                (array.array("d", [0.0, 1.0]), TypeError, "format 'd'"),
                (array.array("I", [0, 0, 1, 0]), TypeError, "format 'I'"),
                (memoryview(pairs((0, 1), (2, 3)).tobytes()).cast("Q")[::2], TypeError,
                 "contiguous"),
                (b"\0" * 15, ValueError, "15 bytes"),
                (b"\0" * 17, ValueError, "17 bytes"),
                (array.array("Q", [0, 1, 15]), ValueError, "24 bytes"),
                # The last pair's address is outside: none of it applied.
                (pairs((0, 1), (15, 2), (16, 3)), ValueError, "pair 2: address 16"),
                (pairs((0, 1), (2**32, 3)), ValueError, "pair 1: address 4294967296"),
                (pairs((2**64 - 1, 3)), ValueError, "pair 0"),
        ):
            with self.subTest(pairs=p):
                e = self.assertRefused(exc, s.accum_batch, p)
                self.assertIn(says, str(e))

    def test_constructor(self):
        before = counters()
        for kw, exc, says in (
                (dict(table=-1), ValueError, "range(0, 1024)"),
                (dict(table=MAX_TABLES), ValueError, "range(0, 1024)"),
                (dict(table="0"), TypeError, "int"),
                (dict(table=0.0), TypeError, "int"),
                (dict(size=0), ValueError, "range(1, 16777217)"),
                (dict(size=MAX_ADDRS + 1), ValueError, "range(1, 16777217)"),
                (dict(size=-1), ValueError, "range(1, 16777217)"),
                (dict(size="8"), TypeError, "int"),
                (dict(table=0, size=8), ValueError, "private"),
                (dict(device=3.5), TypeError, ""),
                (dict(nodes=3), TypeError, "nodes"),
        ):
            with self.subTest(**{k: repr(v) for k, v in kw.items()}):
                with self.assertRaises(exc) as cm:
                    DeltaStream(**kw)
                self.assertIn(says, str(cm.exception))
        with self.assertRaises(TypeError):
            DeltaStream(0, 8)                   # size is keyword-only
        self.assertEqual(counters(), before)

    def test_closed(self):
        s = DeltaStream(size=4)
        s.close()
        s.close()                               # again: nothing
        for fn, args in ((s.load, (0, 1)), (s.accum, (0, 1)), (s.read, (0,)),
                         (s.swap, (0, 1)), (s.accum_batch, (pairs((0, 1)),))):
            with self.subTest(fn=fn.__name__):
                before = counters()
                with self.assertRaises(ValueError) as cm:
                    fn(*args)
                self.assertIn("closed", str(cm.exception))
                self.assertEqual(counters(), before)
        with self.assertRaises(ValueError):
            with s:
                pass
        self.assertTrue(s.closed)


class TestDeviceErrors(Case):
    """What the device refuses: OSError subclasses carrying its errno."""

    def test_no_such_device_file(self):
        with self.assertRaises(FileNotFoundError) as cm:
            DeltaStream(device="/nonexistent/atomik")
        self.assertEqual(cm.exception.errno, errno.ENOENT)
        self.assertEqual(cm.exception.filename, "/nonexistent/atomik")

    def test_not_a_device(self):
        with self.assertRaises(OSError) as cm:
            DeltaStream(device="/dev/null")
        self.assertEqual(cm.exception.errno, errno.ENOTTY)

    def test_no_such_table(self):
        t = free_table_id()
        before = counters()
        with self.assertRaises(FileNotFoundError) as cm:
            DeltaStream(table=t)
        self.assertEqual(cm.exception.errno, errno.ENOENT)
        self.assertIn("table %d" % t, str(cm.exception))
        self.assertEqual(counters(), before)

    def test_table_too_large_for_the_memory_cap(self):
        # 16M addresses take more than the module's cap (256 MiB by
        # default): refused before anything is allocated.
        memory = sysfs("memory_bytes")
        with self.assertRaises(OSError) as cm:
            DeltaStream(size=MAX_ADDRS)
        self.assertIn(cm.exception.errno, (errno.ENOSPC, errno.EDQUOT))
        self.assertIn("memory", str(cm.exception))
        self.assertEqual(sysfs("memory_bytes"), memory)

    def test_permission_denied(self):
        mode = os.stat("/dev/atomik").st_mode
        if mode & 0o006:
            self.skipTest("/dev/atomik is open to everyone here")
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:                            # a user who is not root
            os.close(r)
            code = "?"
            try:
                os.setgid(65534)
                os.setuid(65534)
                DeltaStream()
                code = "opened"
            except PermissionError as e:
                code = "%d %s" % (e.errno, e)
            except BaseException as e:          # noqa: BLE001 (reported to the parent)
                code = "%s: %s" % (type(e).__name__, e)
            os.write(w, code.encode())
            os._exit(0)
        os.close(w)
        out = b""
        while True:
            chunk = os.read(r, 4096)
            if not chunk:
                break
            out += chunk
        os.close(r)
        os.waitpid(pid, 0)
        code = out.decode()
        self.assertTrue(code.startswith("%d " % errno.EACCES), code)
        self.assertIn("group", code)


class TestWithoutModule(Case):
    """The module unloaded: FileNotFoundError that says so.  Runs last."""

    def test_module_not_loaded(self):
        ko = os.environ.get("ATOMIK_KO")
        if not ko:
            self.skipTest("not in the VM rig (ATOMIK_KO unset)")
        gc.collect()
        subprocess.run(["rmmod", "atomik"], check=True)
        try:
            with self.assertRaises(FileNotFoundError) as cm:
                DeltaStream()
            self.assertEqual(cm.exception.errno, errno.ENOENT)
            self.assertIn("module is not loaded", str(cm.exception))
            self.assertEqual(cm.exception.filename, "/dev/atomik")
        finally:
            params = os.environ.get("ATOMIK_MODPARAMS", "").split()
            subprocess.run(["insmod", ko] + params, check=True)
        self.tables = sysfs("nr_tables")        # a fresh module


class TapResult(unittest.TestResult):
    """TAP: one line per test, its subtests' failures folded into it."""

    def __init__(self, total):
        super().__init__()
        self.n = 0
        self.bad = {}
        self.t0 = 0.0
        print("TAP version 13")
        print("1..%d" % total, flush=True)

    def name(self, test):
        return "%s.%s" % (type(test).__name__, test._testMethodName)

    def startTest(self, test):
        super().startTest(test)
        self.t0 = time.monotonic()

    def note(self, test, err):
        for line in self._exc_info_to_string(err, test).rstrip().splitlines():
            print("# " + line)

    def addError(self, test, err):
        super().addError(test, err)
        self.bad[self.name(test)] = True
        self.note(test, err)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.bad[self.name(test)] = True
        self.note(test, err)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self.bad[self.name(test)] = True
            print("# %s" % subtest.id())
            self.note(test, err)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.bad[self.name(test)] = "skip " + reason

    def stopTest(self, test):
        super().stopTest(test)
        self.n += 1
        name, v = self.name(test), self.bad.get(self.name(test))
        print("# %s: %.2f s" % (name, time.monotonic() - self.t0))
        if v is True:
            print("not ok %d %s" % (self.n, name))
        elif v:
            print("ok %d %s # SKIP %s" % (self.n, name, v[5:]))
        else:
            print("ok %d %s" % (self.n, name), flush=True)


def main():
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for cls in (TestBrief, TestReadme, TestStream, TestBatch, TestBadInput, TestDeviceErrors,
                TestWithoutModule):
        suite.addTests(loader.loadTestsFromTestCase(cls))
    result = TapResult(suite.countTestCases())
    suite.run(result)
    bad = sum(1 for v in result.bad.values() if v is True)
    print("# Totals: pass:%d fail:%d" % (result.n - bad - len(result.skipped), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
