// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * atomik_core: Python's interface to /dev/atomik, over libatomik.
 *
 * One type, DeltaStream: a handle on one table, private (created with the
 * stream, destroyed when it closes) or given by id.  Bad input is refused
 * before anything reaches the device (TypeError, ValueError); what the
 * device refuses is an OSError whose errno is the device's, so Python's
 * own subclasses apply (FileNotFoundError when the module is not loaded,
 * PermissionError, ...).  Documentation/atomik/python.rst describes it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "atomik.h"

#ifndef ATOMIK_PACKAGE_VERSION
#define ATOMIK_PACKAGE_VERSION "unknown"
#endif

/* A private table's size unless the caller says: table 0's default. */
#define DEFAULT_SIZE	4096
/* The bytes of one (addr, delta) pair in a batch's buffer. */
#define PAIR_BYTES	16

typedef struct {
	PyObject_HEAD
	struct atomik *a;	/* NULL once closed */
	uint32_t table;
	uint32_t size;		/* the table's addresses */
	int private_table;
	unsigned int busy;	/* batches running without the GIL */
	int closing;		/* close() asked while busy: the last one closes */
} DeltaStream;

/*
 * Raise OSError(err, message[, filename]): OSError's constructor picks the
 * subclass the errno calls for (ENOENT: FileNotFoundError, ...).
 */
static PyObject *raise_errno(int err, const char *filename, const char *fmt, ...)
{
	PyObject *msg, *exc;
	va_list ap;

	va_start(ap, fmt);
	msg = PyUnicode_FromFormatV(fmt, ap);
	va_end(ap);
	if (!msg)
		return NULL;
	if (filename) {
		PyObject *name = PyUnicode_DecodeFSDefault(filename);

		exc = name ? PyObject_CallFunction(PyExc_OSError, "iOO", err, msg, name) : NULL;
		Py_XDECREF(name);
	} else {
		exc = PyObject_CallFunction(PyExc_OSError, "iO", err, msg);
	}
	Py_DECREF(msg);
	if (exc) {
		PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
		Py_DECREF(exc);
	}
	return NULL;
}

/* What an errno from the device means here, as atomik(1) says it. */
static const char *hint(int err)
{
	switch (err) {
	case EINVAL:
		return " (a value the module refuses)";
	case EBADF:
		return " (the device was opened read-only)";
	case EPERM:
		return " (the table belongs to another user)";
	case ENODEV:
		return " (the table was destroyed)";
	case ENOENT:
		return " (no such table)";
	case ENOSPC:
		return " (the module's memory cap or its table ids are used up: "
		       "see memory_cap in /sys/class/misc/atomik/)";
	case EDQUOT:
		return " (your tables reach a per-user limit: see user_max_tables "
		       "and user_memory_cap in /sys/class/misc/atomik/)";
	}
	return "";
}

static PyObject *device_error(int err, const char *what)
{
	return raise_errno(err, NULL, "%s: %s%s", what, strerror(err), hint(err));
}

/*
 * Checked first, and again right before the device is used: converting an
 * argument may run Python code (__index__) that closes the stream.
 */
static int check_open(const DeltaStream *s)
{
	if (s->a && !s->closing)
		return 0;
	PyErr_SetString(PyExc_ValueError, "I/O operation on a closed DeltaStream");
	return -1;
}

/* An int (or an object with __index__, as NumPy's integers) as a Python int. */
static PyObject *as_int(PyObject *o, const char *what)
{
	if (!PyIndex_Check(o)) {
		PyErr_Format(PyExc_TypeError, "%s must be an int, not %.200s", what,
			     Py_TYPE(o)->tp_name);
		return NULL;
	}
	return PyNumber_Index(o);
}

/*
 * o as an unsigned integer no larger than max: 0; 1 when it is out of
 * range (nothing raised yet); -1 with TypeError raised.
 */
static int to_uint(PyObject *o, const char *what, unsigned long long max,
		   unsigned long long *v)
{
	PyObject *i = as_int(o, what);

	if (!i)
		return -1;
	*v = PyLong_AsUnsignedLongLong(i);
	Py_DECREF(i);
	if (*v == (unsigned long long)-1 && PyErr_Occurred()) {
		if (!PyErr_ExceptionMatches(PyExc_OverflowError))
			return -1;
		PyErr_Clear();	/* negative, or past 2**64 - 1 */
		return 1;
	}
	return *v > max;
}

/* An integer 0 <= v <= max, else TypeError or ValueError naming what. */
static int get_uint(PyObject *o, const char *what, unsigned long long max,
		    unsigned long long *v)
{
	int ret = to_uint(o, what, max, v);

	if (ret <= 0)
		return ret;
	if (max == UINT64_MAX)
		PyErr_Format(PyExc_ValueError, "%s must be in range(0, 2**64), not %R", what, o);
	else
		PyErr_Format(PyExc_ValueError, "%s must be in range(0, %llu), not %R", what,
			     max + 1, o);
	return -1;
}

static int get_u64(PyObject *o, const char *what, uint64_t *v)
{
	unsigned long long x;

	if (get_uint(o, what, UINT64_MAX, &x))
		return -1;
	*v = x;
	return 0;
}

/* An address of the stream's table. */
static int get_addr(const DeltaStream *s, PyObject *o, uint32_t *addr)
{
	unsigned long long v;
	int ret = to_uint(o, "addr", s->size - 1, &v);

	if (ret < 0)
		return -1;
	if (ret) {
		PyErr_Format(PyExc_ValueError,
			     "address %R is outside table %u: it has %u addresses, 0 to %u",
			     o, s->table, s->size, s->size - 1);
		return -1;
	}
	*addr = (uint32_t)v;
	return 0;
}

static void stream_release(DeltaStream *s)
{
	struct atomik *a = s->a;

	s->a = NULL;
	s->closing = 0;
	/* Closing the descriptor destroys a private table. */
	atomik_close(a);
}

static PyObject *stream_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "table", "size", "device", NULL };
	PyObject *table = Py_None, *size = NULL, *path = NULL, *bytes = NULL;
	unsigned long long v;
	const char *dev = "/dev/atomik";
	DeltaStream *s;
	int ret;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O$OO:DeltaStream", kwlist,
					 &table, &size, &path))
		return NULL;
	s = (DeltaStream *)type->tp_alloc(type, 0);
	if (!s)
		return NULL;
	s->size = DEFAULT_SIZE;
	if (table != Py_None) {
		if (get_uint(table, "table", ATOMIK_MAX_TABLES - 1, &v))
			goto fail;
		s->table = (uint32_t)v;
		if (size && size != Py_None) {
			PyErr_SetString(PyExc_ValueError,
					"size is for a private table (table=None); "
					"an existing table has its own");
			goto fail;
		}
	} else {
		s->private_table = 1;
		if (size && size != Py_None) {
			ret = to_uint(size, "size", ATOMIK_MAX_ADDRS, &v);
			if (ret < 0)
				goto fail;
			if (ret || !v) {
				PyErr_Format(PyExc_ValueError, "size must be in range(1, %d), not %R",
					     ATOMIK_MAX_ADDRS + 1, size);
				goto fail;
			}
			s->size = (uint32_t)v;
		}
	}
	if (path && path != Py_None) {
		if (!PyUnicode_FSConverter(path, &bytes))
			goto fail;
		dev = PyBytes_AS_STRING(bytes);
	}

	ret = atomik_open(&s->a, dev, O_RDWR);
	if (ret == -ENOENT && !bytes)
		raise_errno(-ret, dev, "%s: the atomik module is not loaded "
			    "(load it with 'modprobe atomik')", strerror(-ret));
	else if (ret == -EACCES || ret == -EPERM)
		raise_errno(-ret, dev, "%s: join the group that owns the device "
			    "('atomik' with the packaged udev rule)", strerror(-ret));
	else if (ret)
		raise_errno(-ret, dev, "%s", strerror(-ret));
	if (ret) {
		s->a = NULL;
		goto fail;
	}
	if (s->private_table) {
		ret = atomik_table_create(s->a, s->size, ATOMIK_TABLE_SELECT |
					  ATOMIK_TABLE_DESTROY_ON_CLOSE, &s->table);
		if (ret) {
			device_error(-ret, "creating a private table");
			goto fail;
		}
	} else {
		ret = atomik_table_select(s->a, s->table);
		if (!ret)
			ret = atomik_nr_addrs(s->a, &s->size);
		if (ret) {
			raise_errno(-ret, NULL, "table %u: %s%s", s->table, strerror(-ret),
				    hint(-ret));
			goto fail;
		}
	}
	Py_XDECREF(bytes);
	return (PyObject *)s;
fail:
	Py_XDECREF(bytes);
	Py_DECREF(s);
	return NULL;
}

static void stream_dealloc(DeltaStream *s)
{
	if (s->a)
		stream_release(s);
	Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyObject *stream_repr(DeltaStream *s)
{
	if (!s->a || s->closing)
		return PyUnicode_FromString("<atomik_core.DeltaStream closed>");
	return PyUnicode_FromFormat("<atomik_core.DeltaStream table=%u size=%u%s>", s->table,
				    s->size, s->private_table ? " private" : "");
}

static PyObject *stream_load(DeltaStream *s, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "addr", "initial_state", NULL };
	PyObject *oa, *ov;
	uint32_t addr;
	uint64_t v;
	int ret;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:load", kwlist, &oa, &ov) ||
	    check_open(s) || get_addr(s, oa, &addr) || get_u64(ov, "initial_state", &v))
		return NULL;
	if (check_open(s))
		return NULL;
	ret = atomik_load(s->a, addr, v);
	if (ret)
		return device_error(-ret, "load");
	Py_RETURN_NONE;
}

static PyObject *stream_accum(DeltaStream *s, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "addr", "delta", NULL };
	PyObject *oa, *ov;
	uint32_t addr;
	uint64_t v;
	int ret;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:accum", kwlist, &oa, &ov) ||
	    check_open(s) || get_addr(s, oa, &addr) || get_u64(ov, "delta", &v))
		return NULL;
	if (check_open(s))
		return NULL;
	ret = atomik_accum(s->a, addr, v);
	if (ret)
		return device_error(-ret, "accum");
	Py_RETURN_NONE;
}

static PyObject *stream_read(DeltaStream *s, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "addr", NULL };
	PyObject *oa;
	uint32_t addr;
	uint64_t v;
	int ret;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:read", kwlist, &oa) ||
	    check_open(s) || get_addr(s, oa, &addr))
		return NULL;
	if (check_open(s))
		return NULL;
	ret = atomik_read(s->a, addr, &v);
	if (ret)
		return device_error(-ret, "read");
	return PyLong_FromUnsignedLongLong(v);
}

static PyObject *stream_swap(DeltaStream *s, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "addr", "value", NULL };
	PyObject *oa, *ov;
	uint32_t addr;
	uint64_t v, old;
	int ret;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:swap", kwlist, &oa, &ov) ||
	    check_open(s) || get_addr(s, oa, &addr) || get_u64(ov, "value", &v))
		return NULL;
	if (check_open(s))
		return NULL;
	ret = atomik_swap(s->a, addr, v, &old);
	if (ret)
		return device_error(-ret, "swap");
	return PyLong_FromUnsignedLongLong(old);
}

/*
 * The item formats a batch's buffer may have: raw bytes, or 64-bit
 * integers in this machine's byte order (array.array('Q'), NumPy's uint64).
 */
static int pairs_format_ok(const Py_buffer *v)
{
	const char *f = v->format ? v->format : "B";

	if (*f == '@' || *f == '=')
		f++;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	else if (*f == '<')
		f++;
#else
	else if (*f == '>' || *f == '!')
		f++;
#endif
	if (!f[0] || f[1])
		return 0;
	switch (f[0]) {
	case 'B': case 'b': case 'c':
		return v->itemsize == 1;
	case 'Q': case 'q': case 'L': case 'l': case 'N': case 'n':
		return v->itemsize == 8;
	}
	return 0;
}

static PyObject *stream_accum_batch(DeltaStream *s, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "pairs", NULL };
	struct atomik_delta *d;
	Py_ssize_t n, i, done = 0, part;
	const unsigned char *p;
	uint64_t addr, delta;
	PyObject *o;
	Py_buffer view;
	int ret = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:accum_batch", kwlist, &o) ||
	    check_open(s))
		return NULL;
	if (!PyObject_CheckBuffer(o)) {
		PyErr_Format(PyExc_TypeError, "pairs must be a buffer of (addr, delta) pairs "
			     "(bytes, bytearray, array.array('Q'), a NumPy uint64 array), "
			     "not %.200s", Py_TYPE(o)->tp_name);
		return NULL;
	}
	if (PyObject_GetBuffer(o, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)) {
		if (PyErr_ExceptionMatches(PyExc_BufferError)) {
			PyErr_Clear();
			PyErr_SetString(PyExc_TypeError, "pairs must be a C-contiguous buffer");
		}
		return NULL;
	}
	if (!pairs_format_ok(&view)) {
		PyErr_Format(PyExc_TypeError, "pairs holds items of format '%s': a batch is "
			     "unsigned 64-bit integers in this machine's byte order (format "
			     "'Q') or raw bytes", view.format ? view.format : "B");
		PyBuffer_Release(&view);
		return NULL;
	}
	if (view.len % PAIR_BYTES) {
		PyErr_Format(PyExc_ValueError, "pairs holds %zd bytes, not a whole number of "
			     "%d-byte (addr, delta) pairs", view.len, PAIR_BYTES);
		PyBuffer_Release(&view);
		return NULL;
	}
	n = view.len / PAIR_BYTES;
	d = PyMem_Malloc(n ? n * sizeof(*d) : 1);
	if (!d) {
		PyBuffer_Release(&view);
		return PyErr_NoMemory();
	}
	/* The buffer is read once, into our copy, and every address checked
	 * before any pair is sent. */
	p = view.buf;
	for (i = 0; i < n; i++) {
		memcpy(&addr, p + i * PAIR_BYTES, 8);
		memcpy(&delta, p + i * PAIR_BYTES + 8, 8);
		if (addr >= s->size) {
			PyErr_Format(PyExc_ValueError, "pair %zd: address %llu is outside "
				     "table %u: it has %u addresses, 0 to %u; nothing applied",
				     i, (unsigned long long)addr, s->table, s->size, s->size - 1);
			PyMem_Free(d);
			PyBuffer_Release(&view);
			return NULL;
		}
		d[i] = (struct atomik_delta){ .addr = (uint32_t)addr, .delta = delta };
	}
	PyBuffer_Release(&view);
	if (check_open(s)) {
		PyMem_Free(d);
		return NULL;
	}
	s->busy++;
	Py_BEGIN_ALLOW_THREADS
	for (done = 0; done < n; done += part) {
		part = n - done < ATOMIK_MAX_BATCH ? n - done : ATOMIK_MAX_BATCH;
		ret = atomik_accum_batch(s->a, d + done, part);
		if (ret)
			break;
	}
	Py_END_ALLOW_THREADS
	s->busy--;
	if (s->closing && !s->busy)
		stream_release(s);
	PyMem_Free(d);
	if (ret && done)
		return raise_errno(-ret, NULL, "accum_batch: %s%s; the first %zd pairs were "
				   "applied, the rest not", strerror(-ret), hint(-ret), done);
	if (ret)
		return device_error(-ret, "accum_batch");
	return PyLong_FromSsize_t(n);
}

static PyObject *stream_close(DeltaStream *s, PyObject *unused)
{
	if (s->a) {
		if (s->busy)
			s->closing = 1;	/* the batch running closes it */
		else
			stream_release(s);
	}
	Py_RETURN_NONE;
}

static PyObject *stream_enter(DeltaStream *s, PyObject *unused)
{
	if (check_open(s))
		return NULL;
	Py_INCREF(s);
	return (PyObject *)s;
}

static PyObject *stream_exit(DeltaStream *s, PyObject *args)
{
	PyObject *r = stream_close(s, NULL);

	Py_XDECREF(r);
	if (!r)
		return NULL;
	Py_RETURN_FALSE;
}

static PyObject *stream_get_table(DeltaStream *s, void *closure)
{
	return PyLong_FromUnsignedLong(s->table);
}

static PyObject *stream_get_size(DeltaStream *s, void *closure)
{
	return PyLong_FromUnsignedLong(s->size);
}

static PyObject *stream_get_private(DeltaStream *s, void *closure)
{
	return PyBool_FromLong(s->private_table);
}

static PyObject *stream_get_closed(DeltaStream *s, void *closure)
{
	return PyBool_FromLong(!s->a || s->closing);
}

PyDoc_STRVAR(load_doc,
"load($self, /, addr, initial_state)\n--\n\n"
"Make initial_state (0 to 2**64 - 1) the state of addr: the reference,\n"
"with the accumulated deltas started again from zero.  In a replicated\n"
"table a load is itself a delta (old state ^ initial_state).");

PyDoc_STRVAR(accum_doc,
"accum($self, /, addr, delta)\n--\n\n"
"XOR delta (0 to 2**64 - 1) into the state of addr.  A delta given twice\n"
"cancels itself.");

PyDoc_STRVAR(read_doc,
"read($self, /, addr)\n--\n\n"
"Return the state of addr: its reference XOR every delta accumulated\n"
"since.  An accumulate that returned before the read began is in it.");

PyDoc_STRVAR(swap_doc,
"swap($self, /, addr, value)\n--\n\n"
"Atomically return the state of addr and make value its new reference,\n"
"losing no concurrent delta.");

PyDoc_STRVAR(accum_batch_doc,
"accum_batch($self, /, pairs)\n--\n\n"
"XOR many deltas at once and return how many.  pairs is any C-contiguous\n"
"buffer (bytes, bytearray, memoryview, array.array('Q'), a NumPy uint64\n"
"array of shape (n, 2)) of n (addr, delta) pairs, each two unsigned\n"
"64-bit integers in this machine's byte order: 16 bytes per pair, the\n"
"address first.  Every address is checked before any delta is applied:\n"
"one outside the table raises ValueError with nothing applied.  The\n"
"buffer is copied once; the deltas go to the device 65536 to a call\n"
"without the GIL.");

PyDoc_STRVAR(close_doc,
"close($self, /)\n--\n\n"
"Close the stream; a private table is destroyed with it.  Closing again\n"
"does nothing; any other call on a closed stream raises ValueError.");

static PyMethodDef stream_methods[] = {
	{ "load", (PyCFunction)(void (*)(void))stream_load, METH_VARARGS | METH_KEYWORDS,
	  load_doc },
	{ "accum", (PyCFunction)(void (*)(void))stream_accum, METH_VARARGS | METH_KEYWORDS,
	  accum_doc },
	{ "read", (PyCFunction)(void (*)(void))stream_read, METH_VARARGS | METH_KEYWORDS,
	  read_doc },
	{ "swap", (PyCFunction)(void (*)(void))stream_swap, METH_VARARGS | METH_KEYWORDS,
	  swap_doc },
	{ "accum_batch", (PyCFunction)(void (*)(void))stream_accum_batch,
	  METH_VARARGS | METH_KEYWORDS, accum_batch_doc },
	{ "close", (PyCFunction)stream_close, METH_NOARGS, close_doc },
	{ "__enter__", (PyCFunction)stream_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)stream_exit, METH_VARARGS, NULL },
	{ NULL }
};

static PyGetSetDef stream_getset[] = {
	{ "table", (getter)stream_get_table, NULL, "The table's id.", NULL },
	{ "size", (getter)stream_get_size, NULL,
	  "The table's number of addresses: addresses are 0 to size - 1.", NULL },
	{ "private", (getter)stream_get_private, NULL,
	  "True for a private table, destroyed when the stream closes.", NULL },
	{ "closed", (getter)stream_get_closed, NULL, "True once closed.", NULL },
	{ NULL }
};

PyDoc_STRVAR(stream_doc,
"DeltaStream(table=None, *, size=4096, device=None)\n--\n\n"
"A handle on a table of 64-bit XOR accumulators in /dev/atomik.\n\n"
"With table=None the stream gets a private table of size addresses,\n"
"destroyed when the stream is closed (or collected).  With an int it works\n"
"on that existing table: 0 is the table every process shares.  device is\n"
"another path than /dev/atomik.  A stream is a context manager that closes\n"
"it.\n\n"
"Addresses are ints 0 to size - 1, values 0 to 2**64 - 1.  Wrong types\n"
"raise TypeError and values out of range ValueError, before anything\n"
"reaches the device; what the device refuses raises OSError with its\n"
"errno: FileNotFoundError when the module is not loaded (or the table\n"
"does not exist), PermissionError when the device or the table is not\n"
"yours, OSError(ENODEV) once the table has been destroyed, OSError(ENOSPC\n"
"or EDQUOT) when a private table does not fit the module's limits.");

static PyTypeObject DeltaStreamType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "atomik_core.DeltaStream",
	.tp_basicsize = sizeof(DeltaStream),
	.tp_dealloc = (destructor)stream_dealloc,
	.tp_repr = (reprfunc)stream_repr,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = stream_doc,
	.tp_methods = stream_methods,
	.tp_getset = stream_getset,
	.tp_new = stream_new,
};

PyDoc_STRVAR(module_doc,
"ATOMiK's shared 64-bit XOR accumulators (/dev/atomik) from Python.\n\n"
"    from atomik_core import DeltaStream\n"
"    with DeltaStream() as s:            # a private table\n"
"        s.load(addr=0, initial_state=0xCAFEBABE)\n"
"        s.accum(addr=0, delta=0xFF)\n"
"        assert s.read(0) == 0xCAFEBA41\n\n"
"Documentation/atomik/python.rst in the sources describes it.");

static struct PyModuleDef atomik_core_module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "atomik_core",
	.m_doc = module_doc,
	.m_size = -1,
};

PyMODINIT_FUNC PyInit_atomik_core(void)
{
	PyObject *m;

	if (PyType_Ready(&DeltaStreamType) < 0)
		return NULL;
	m = PyModule_Create(&atomik_core_module);
	if (!m)
		return NULL;
	Py_INCREF(&DeltaStreamType);
	if (PyModule_AddObject(m, "DeltaStream", (PyObject *)&DeltaStreamType) < 0 ||
	    PyModule_AddStringConstant(m, "__version__", ATOMIK_PACKAGE_VERSION) < 0 ||
	    PyModule_AddIntConstant(m, "DEFAULT_SIZE", DEFAULT_SIZE) < 0) {
		Py_DECREF(&DeltaStreamType);
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
