// Package bitcask is a Go binding (cgo) for the bitcask storage engine's C API
// (include/bitcask.h): a log-structured hash table of arbitrary byte keys and values.
//
// A *DB is safe for concurrent use by any number of goroutines. Every call on it holds a
// read lock for the duration of one C call; Close takes the write lock, so it waits for calls
// in flight, and every call after Close returns ErrClosed instead of touching freed memory.
// No C code ever calls back into Go: Fold uses the library's pull iterator, and Keys and Scan
// collect keys with a small C helper (see Scan).
//
// Errors from the library are *Error values carrying the status code and the detailed message
// of bc_last_error(), read inside the same C call as the failing function (goroutines can
// move between OS threads between two cgo calls). Compare them with errors.Is against the
// sentinels (ErrNotFound, ErrTooLarge, ErrReadOnly, ...), which match on the code.
package bitcask

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -lbitcask -Wl,-rpath,${SRCDIR}/../../target/release
#include <stdlib.h>
#include <string.h>
#include "bitcask.h"

// Every helper below makes one library call and, when it returns a negative status, copies
// bc_last_error() into *err (malloc'd; Go frees it) before returning: the message is read on
// the same OS thread, in the same cgo call, as the failure it describes.
static int bcgo_fail(int rc, char **err) {
	if (rc < 0 && err != NULL) {
		const char *m = bc_last_error();
		*err = strdup(m != NULL ? m : "");
	}
	return rc;
}

// Open settings as plain values; zero means "library default" except where a set_* flag says.
typedef struct {
	uint64_t max_file_size;
	int      sync_mode;
	uint32_t sync_interval_ms;
	int      read_only;
	int      create_if_missing;
	uint32_t max_key_size;
	int      set_max_value_size;
	uint64_t max_value_size;
	uint32_t max_open_files;
	uint64_t expected_keys;
	int      set_merge_trigger;
	uint32_t merge_fragmentation_percent;
	uint64_t merge_dead_bytes;
	int      auto_merge;
	int      mmap_writes;
	int      compact_hints;
	uint32_t expiry_secs;
} bcgo_opts;

// Builds a bc_options from g (NULL: library defaults), opens dir, frees the options.
static int bcgo_open(const char *dir, const bcgo_opts *g, bc_db **out, char **err) {
	bc_options *o = NULL;
	int rc = BC_OK;
	*out = NULL;
	if (g != NULL) {
		o = bc_options_new();
		if (o == NULL) {
			*err = strdup("bc_options_new: out of memory");
			return BC_E_IO;
		}
		if (g->max_file_size != 0 && (rc = bc_options_set_max_file_size(o, g->max_file_size)) < 0) goto done;
		if ((rc = bc_options_set_sync(o, g->sync_mode, g->sync_interval_ms)) < 0) goto done;
		if ((rc = bc_options_set_read_only(o, g->read_only)) < 0) goto done;
		if ((rc = bc_options_set_create_if_missing(o, g->create_if_missing)) < 0) goto done;
		if (g->max_key_size != 0 && (rc = bc_options_set_max_key_size(o, g->max_key_size)) < 0) goto done;
		if (g->set_max_value_size && (rc = bc_options_set_max_value_size(o, g->max_value_size)) < 0) goto done;
		if (g->max_open_files != 0 && (rc = bc_options_set_max_open_files(o, g->max_open_files)) < 0) goto done;
		if (g->expected_keys != 0 && (rc = bc_options_set_expected_keys(o, g->expected_keys)) < 0) goto done;
		if (g->set_merge_trigger &&
		    (rc = bc_options_set_merge_trigger(o, g->merge_fragmentation_percent, g->merge_dead_bytes)) < 0) goto done;
		if ((rc = bc_options_set_auto_merge(o, g->auto_merge)) < 0) goto done;
		if ((rc = bc_options_set_mmap_writes(o, g->mmap_writes)) < 0) goto done;
		if ((rc = bc_options_set_compact_hints(o, g->compact_hints)) < 0) goto done;
		if ((rc = bc_options_set_expiry_secs(o, g->expiry_secs)) < 0) goto done;
	}
	rc = bc_open(dir, o, out);
done:
	bcgo_fail(rc, err);
	bc_options_free(o);
	return rc;
}

static int bcgo_close(bc_db *db, char **err) { return bcgo_fail(bc_close(db), err); }

static int bcgo_put(bc_db *db, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, char **err) {
	return bcgo_fail(bc_put(db, k, kl, v, vl), err);
}

static int bcgo_put_ttl(bc_db *db, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                        uint32_t ttl, char **err) {
	return bcgo_fail(bc_put_ttl(db, k, kl, v, vl, ttl), err);
}

static int bcgo_get(bc_db *db, const uint8_t *k, size_t kl, uint8_t **v, size_t *vl, char **err) {
	return bcgo_fail(bc_get(db, k, kl, v, vl), err);
}

static int bcgo_delete(bc_db *db, const uint8_t *k, size_t kl, char **err) {
	return bcgo_fail(bc_delete(db, k, kl), err);
}

static int bcgo_contains(bc_db *db, const uint8_t *k, size_t kl, char **err) {
	return bcgo_fail(bc_contains(db, k, kl), err);
}

static int bcgo_sync(bc_db *db, char **err) { return bcgo_fail(bc_sync(db), err); }
static int bcgo_merge(bc_db *db, char **err) { return bcgo_fail(bc_merge(db), err); }
static int bcgo_stats(bc_db *db, bc_stats *s, char **err) { return bcgo_fail(bc_stats_get(db, s), err); }

static int bcgo_batch_put(bc_batch *b, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, char **err) {
	return bcgo_fail(bc_batch_put(b, k, kl, v, vl), err);
}
static int bcgo_batch_delete(bc_batch *b, const uint8_t *k, size_t kl, char **err) {
	return bcgo_fail(bc_batch_delete(b, k, kl), err);
}
static int bcgo_write(bc_db *db, const bc_batch *b, char **err) { return bcgo_fail(bc_write(db, b), err); }

static int bcgo_iter_new(bc_db *db, bc_iter **it, char **err) { return bcgo_fail(bc_iter_new(db, it), err); }
static int bcgo_iter_next(bc_iter *it, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl, char **err) {
	return bcgo_fail(bc_iter_next(it, k, kl, v, vl), err);
}

// Key collection for Keys and Scan: bc_fold_keys with a C callback (never a Go one) that keeps
// the keys in [start, end) in one growing buffer as <8-byte little-endian length><bytes>.
// Only the in-memory index is read; no value is read from disk.
typedef struct {
	uint8_t       *buf;
	size_t         len, cap, count;
	const uint8_t *start, *end;
	size_t         slen, elen;
	int            has_start, has_end, oom;
} bcgo_keys;

// Unsigned byte order, a proper prefix first: the library's key order.
static int bcgo_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl) {
	size_t n = al < bl ? al : bl;
	int c = n != 0 ? memcmp(a, b, n) : 0;
	if (c != 0) return c;
	return al < bl ? -1 : (al > bl ? 1 : 0);
}

static int bcgo_keys_cb(void *ctx, const uint8_t *k, size_t kl) {
	bcgo_keys *s = (bcgo_keys *)ctx;
	size_t need, i;
	if (s->has_start && bcgo_cmp(k, kl, s->start, s->slen) < 0) return 0;
	if (s->has_end && bcgo_cmp(k, kl, s->end, s->elen) >= 0) return 0;
	need = s->len + 8 + kl;
	if (need > s->cap) {
		size_t c = s->cap != 0 ? s->cap : 4096;
		uint8_t *p;
		while (c < need) c *= 2;
		p = (uint8_t *)realloc(s->buf, c);
		if (p == NULL) { s->oom = 1; return 1; }
		s->buf = p;
		s->cap = c;
	}
	for (i = 0; i < 8; i++) s->buf[s->len + i] = (uint8_t)((uint64_t)kl >> (8 * i));
	s->len += 8;
	if (kl != 0) memcpy(s->buf + s->len, k, kl);
	s->len += kl;
	s->count++;
	return 0;
}

static int bcgo_collect_keys(bc_db *db, const uint8_t *start, size_t slen, int has_start,
                             const uint8_t *end, size_t elen, int has_end,
                             uint8_t **buf, size_t *len, size_t *count, char **err) {
	bcgo_keys s;
	int rc;
	memset(&s, 0, sizeof s);
	s.start = start; s.slen = slen; s.has_start = has_start;
	s.end = end; s.elen = elen; s.has_end = has_end;
	*buf = NULL; *len = 0; *count = 0;
	rc = bc_fold_keys(db, bcgo_keys_cb, &s);
	if (rc < 0) {
		bcgo_fail(rc, err);
		free(s.buf);
		return rc;
	}
	if (s.oom) {
		free(s.buf);
		*err = strdup("bc_fold_keys: out of memory collecting keys (Go binding)");
		return BC_E_IO;
	}
	*buf = s.buf; *len = s.len; *count = s.count;
	return BC_OK;
}
*/
import "C"

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// HeaderVersion is the version of include/bitcask.h this package was compiled against.
const HeaderVersion = C.BC_VERSION_STRING

// Version returns the version of the bitcask library loaded at run time.
func Version() string { return C.GoString(C.bc_version()) }

// Status codes of the C API (BC_*), as found in Error.Code.
const (
	CodeOK       = int(C.BC_OK)
	CodeNotFound = int(C.BC_NOT_FOUND)
	CodeStopped  = int(C.BC_STOPPED)
	CodeInvalid  = int(C.BC_E_INVALID)
	CodeIO       = int(C.BC_E_IO)
	CodeCorrupt  = int(C.BC_E_CORRUPT)
	CodeLocked   = int(C.BC_E_LOCKED)
	CodeReadOnly = int(C.BC_E_READ_ONLY)
	CodeTooLarge = int(C.BC_E_TOO_LARGE)
	CodeBuffer   = int(C.BC_E_BUFFER)
	CodePanic    = int(C.BC_E_PANIC)
	// CodeClosed is not a library status: the Go handle (DB or Batch) was already closed.
	CodeClosed = -1000
)

// Error is a failure reported by the library (or by this binding, for CodeClosed).
type Error struct {
	Code int    // a BC_* status, see the Code* constants
	Msg  string // bc_last_error() text, e.g. "bc_put: key of 9 bytes exceeds max_key_size 8"
}

func (e *Error) Error() string {
	return fmt.Sprintf("bitcask: %s (%s)", e.Msg, codeName(e.Code))
}

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, bitcask.ErrTooLarge) holds for every BC_E_TOO_LARGE failure.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && e != nil && t != nil && t.Code == e.Code
}

// Sentinels for errors.Is. They match any *Error with the same Code.
var (
	ErrNotFound = &Error{CodeNotFound, "key not found"}
	ErrInvalid  = &Error{CodeInvalid, "invalid argument"}
	ErrIO       = &Error{CodeIO, "I/O error"}
	ErrCorrupt  = &Error{CodeCorrupt, "data corrupt"}
	ErrLocked   = &Error{CodeLocked, "store locked by another handle"}
	ErrReadOnly = &Error{CodeReadOnly, "store opened read-only"}
	ErrTooLarge = &Error{CodeTooLarge, "key or value too large"}
	ErrPanic    = &Error{CodePanic, "library panicked"}
	ErrClosed   = &Error{CodeClosed, "handle is closed"}
)

func codeName(code int) string {
	switch code {
	case CodeOK:
		return "BC_OK"
	case CodeNotFound:
		return "BC_NOT_FOUND"
	case CodeStopped:
		return "BC_STOPPED"
	case CodeInvalid:
		return "BC_E_INVALID"
	case CodeIO:
		return "BC_E_IO"
	case CodeCorrupt:
		return "BC_E_CORRUPT"
	case CodeLocked:
		return "BC_E_LOCKED"
	case CodeReadOnly:
		return "BC_E_READ_ONLY"
	case CodeTooLarge:
		return "BC_E_TOO_LARGE"
	case CodeBuffer:
		return "BC_E_BUFFER"
	case CodePanic:
		return "BC_E_PANIC"
	case CodeClosed:
		return "closed"
	}
	return fmt.Sprintf("status %d", code)
}

// newError turns a status and the message copied by a C helper into an *Error, freeing msg.
func newError(rc C.int, msg *C.char) error {
	e := &Error{Code: int(rc)}
	if msg != nil {
		e.Msg = C.GoString(msg)
		C.free(unsafe.Pointer(msg))
	}
	if e.Msg == "" {
		e.Msg = C.GoString(C.bc_status_str(rc))
	}
	return e
}

func invalid(msg string) error { return &Error{CodeInvalid, msg} }

// bptr is the C view of b for the duration of one call: (NULL, 0) for an empty slice.
func bptr(b []byte) *C.uint8_t {
	if len(b) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0]))
}

// goBytes copies n bytes of C memory into a new Go slice (non-nil, also when empty).
func goBytes(p *C.uint8_t, n C.size_t) []byte {
	out := make([]byte, int(n))
	if n > 0 {
		copy(out, unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n)))
	}
	return out
}

// SyncMode says when writes reach stable storage.
type SyncMode int

const (
	SyncNone     SyncMode = C.BC_SYNC_NONE     // never fsync on write (default)
	SyncAlways   SyncMode = C.BC_SYNC_ALWAYS   // fdatasync before each write returns (group commit)
	SyncInterval SyncMode = C.BC_SYNC_INTERVAL // background fdatasync every Options.SyncInterval
)

// Options for Open. The zero value (and a nil *Options) means the library's defaults; zero
// fields keep their default. Out-of-range values make Open fail with ErrInvalid.
type Options struct {
	MaxFileSize    uint64        // seal the active data file at this size (default 256 MiB; >= 256)
	Sync           SyncMode      // default SyncNone
	SyncInterval   time.Duration // with SyncInterval: period, rounded up to whole ms (must be > 0)
	ReadOnly       bool          // open without the write lock; every write fails with ErrReadOnly
	ErrorIfMissing bool          // do not create a missing directory (create_if_missing off): ErrIO
	MaxKeySize     uint32        // 1 ..= 1 MiB (default 64 KiB)
	// MaxValueSize: 0 ..= 3 GiB (default 64 MiB). As 0 means "default" here, use
	// MaxValueSizeZero to allow only empty values.
	MaxValueSize uint64
	MaxOpenFiles uint32 // data files kept open for reading (default 64)
	// ExpectedKeys: how many keys the store is expected to hold, 0 ..= 1<<32 (default 0, no
	// expectation). Open sizes the in-memory index for that many up front (about 9 bytes per
	// key, touched as keys arrive), so filling the store never pauses to grow and rehash it.
	ExpectedKeys uint64
	// Expiry: store-wide TTL, every key reads as absent this long after its write (0 = never).
	// Rounded up to whole seconds.
	Expiry    time.Duration
	AutoMerge bool // merge in a background thread when the merge trigger holds
	// Merge trigger for AutoMerge: dead bytes reach this percentage of the sealed files
	// (default 60) or this many bytes (default 512 MiB). 0 keeps the default.
	MergeFragmentationPercent uint32
	MergeDeadBytes            uint64
	// The two options below default on in the library; like ErrorIfMissing they are named
	// for the non-default setting, so that false (the zero value) keeps the default.
	//
	// DisableMmapWrites (mmap_writes off): appends use pwrite. By default they go through a
	// writable memory map of the active data file over space reserved ahead with fallocate
	// (on ext4, XFS and tmpfs; pwrite elsewhere), and while the store is open the active file
	// is longer on disk than its records by that reservation (up to 8 MiB, cut at Close).
	// Durability is the same either way.
	DisableMmapWrites bool
	// KeyedHints (compact_hints off): every hint file lists its keys (hint format version 1);
	// with a cold page cache a store of small values reopens faster. By default a data file
	// whose records are mostly live (such as a merge's output) gets a compact hint (version 2:
	// one bit per record, no keys; smaller on disk). Either kind is read whatever this says.
	KeyedHints bool
}

// MaxValueSizeZero as Options.MaxValueSize sets the library's value limit to 0 bytes.
const MaxValueSizeZero = math.MaxUint64

func ceilUnits(d, unit time.Duration) C.uint32_t {
	if d <= 0 {
		return 0
	}
	n := (d + unit - 1) / unit
	if n > math.MaxUint32 {
		n = math.MaxUint32
	}
	return C.uint32_t(n)
}

func (o *Options) toC() *C.bcgo_opts {
	if o == nil {
		return nil
	}
	g := &C.bcgo_opts{
		max_file_size:     C.uint64_t(o.MaxFileSize),
		sync_mode:         C.int(o.Sync),
		read_only:         cbool(o.ReadOnly),
		create_if_missing: cbool(!o.ErrorIfMissing),
		max_key_size:      C.uint32_t(o.MaxKeySize),
		max_open_files:    C.uint32_t(o.MaxOpenFiles),
		expected_keys:     C.uint64_t(o.ExpectedKeys),
		auto_merge:        cbool(o.AutoMerge),
		mmap_writes:       cbool(!o.DisableMmapWrites),
		compact_hints:     cbool(!o.KeyedHints),
		expiry_secs:       ceilUnits(o.Expiry, time.Second),
	}
	if o.Sync == SyncInterval {
		g.sync_interval_ms = ceilUnits(o.SyncInterval, time.Millisecond)
	}
	switch o.MaxValueSize {
	case 0:
	case MaxValueSizeZero:
		g.set_max_value_size = 1
	default:
		g.set_max_value_size = 1
		g.max_value_size = C.uint64_t(o.MaxValueSize)
	}
	if o.MergeFragmentationPercent != 0 || o.MergeDeadBytes != 0 {
		g.set_merge_trigger = 1
		g.merge_fragmentation_percent = 60
		g.merge_dead_bytes = 512 << 20
		if o.MergeFragmentationPercent != 0 {
			g.merge_fragmentation_percent = C.uint32_t(o.MergeFragmentationPercent)
		}
		if o.MergeDeadBytes != 0 {
			g.merge_dead_bytes = C.uint64_t(o.MergeDeadBytes)
		}
	}
	return g
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// DB is an open store. Safe for concurrent use; close it with Close.
type DB struct {
	mu sync.RWMutex // read-locked around each C call, write-locked by Close
	p  *C.bc_db     // nil once closed

	itMu  sync.Mutex
	iters map[*iter]struct{} // open iterators, freed by Close before bc_close
}

type iter struct{ p *C.bc_iter } // p is guarded by DB.mu (nil once freed)

// Open opens (or creates) the store in directory dir. opts may be nil for the defaults.
func Open(dir string, opts *Options) (*DB, error) {
	if strings.IndexByte(dir, 0) >= 0 {
		return nil, invalid("Open: directory path contains a NUL byte")
	}
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	var p *C.bc_db
	var e *C.char
	if rc := C.bcgo_open(cdir, opts.toC(), &p, &e); rc != C.BC_OK {
		if rc > 0 { // not expected from bc_open; never leak a handle
			C.bc_close(p)
		}
		return nil, newError(rc, e)
	}
	d := &DB{p: p, iters: map[*iter]struct{}{}}
	// Safety net only: a DB dropped without Close is closed by the garbage collector.
	runtime.SetFinalizer(d, func(d *DB) {
		if d.p != nil {
			for it := range d.iters {
				C.bc_iter_free(it.p)
			}
			C.bc_close(d.p)
			d.p = nil
		}
	})
	return d, nil
}

// acquire read-locks d and returns its handle, or ErrClosed (unlocked) if it is closed.
func (d *DB) acquire() (*C.bc_db, error) {
	if d == nil {
		return nil, ErrClosed
	}
	d.mu.RLock()
	if d.p == nil {
		d.mu.RUnlock()
		return nil, ErrClosed
	}
	return d.p, nil
}

// Close syncs and releases the store (and its lock). It waits for calls running on other
// goroutines; later calls, and a second Close, return ErrClosed. A Fold or Scan running on
// another goroutine stops with ErrClosed at its next step.
func (d *DB) Close() error {
	if d == nil {
		return ErrClosed
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.p == nil {
		return ErrClosed
	}
	d.itMu.Lock()
	for it := range d.iters {
		C.bc_iter_free(it.p)
		it.p = nil
	}
	d.iters = nil
	d.itMu.Unlock()
	var e *C.char
	rc := C.bcgo_close(d.p, &e)
	d.p = nil // freed even when bc_close reports an error
	runtime.SetFinalizer(d, nil)
	if rc != C.BC_OK {
		return newError(rc, e)
	}
	return nil
}

// Get returns a copy of the value of key, or an error matching ErrNotFound. An empty value is
// returned as a non-nil empty slice.
func (d *DB) Get(key []byte) ([]byte, error) {
	p, err := d.acquire()
	if err != nil {
		return nil, err
	}
	defer d.mu.RUnlock()
	var v *C.uint8_t
	var vl C.size_t
	var e *C.char
	switch rc := C.bcgo_get(p, bptr(key), C.size_t(len(key)), &v, &vl, &e); rc {
	case C.BC_OK:
		out := goBytes(v, vl)
		C.bc_free(unsafe.Pointer(v))
		return out, nil
	case C.BC_NOT_FOUND:
		return nil, ErrNotFound
	default:
		return nil, newError(rc, e)
	}
}

// Has reports whether key exists, without reading its value.
func (d *DB) Has(key []byte) (bool, error) {
	p, err := d.acquire()
	if err != nil {
		return false, err
	}
	defer d.mu.RUnlock()
	var e *C.char
	switch rc := C.bcgo_contains(p, bptr(key), C.size_t(len(key)), &e); rc {
	case C.BC_OK:
		return true, nil
	case C.BC_NOT_FOUND:
		return false, nil
	default:
		return false, newError(rc, e)
	}
}

// Put stores value under key (keys must be non-empty; values may be empty).
func (d *DB) Put(key, value []byte) error {
	p, err := d.acquire()
	if err != nil {
		return err
	}
	defer d.mu.RUnlock()
	var e *C.char
	if rc := C.bcgo_put(p, bptr(key), C.size_t(len(key)), bptr(value), C.size_t(len(value)), &e); rc != C.BC_OK {
		return newError(rc, e)
	}
	return nil
}

// PutTTL is Put with an expiry: the key reads as absent ttl from now (rounded up to whole
// seconds, at least 1 s; ttl <= 0 is ErrInvalid).
func (d *DB) PutTTL(key, value []byte, ttl time.Duration) error {
	p, err := d.acquire()
	if err != nil {
		return err
	}
	defer d.mu.RUnlock()
	var e *C.char
	rc := C.bcgo_put_ttl(p, bptr(key), C.size_t(len(key)), bptr(value), C.size_t(len(value)),
		ceilUnits(ttl, time.Second), &e)
	if rc != C.BC_OK {
		return newError(rc, e)
	}
	return nil
}

// Delete removes key; it returns an error matching ErrNotFound if there was nothing to delete.
func (d *DB) Delete(key []byte) error {
	p, err := d.acquire()
	if err != nil {
		return err
	}
	defer d.mu.RUnlock()
	var e *C.char
	switch rc := C.bcgo_delete(p, bptr(key), C.size_t(len(key)), &e); rc {
	case C.BC_OK:
		return nil
	case C.BC_NOT_FOUND:
		return ErrNotFound
	default:
		return newError(rc, e)
	}
}

// Sync forces every acknowledged write onto stable storage.
func (d *DB) Sync() error {
	p, err := d.acquire()
	if err != nil {
		return err
	}
	defer d.mu.RUnlock()
	var e *C.char
	if rc := C.bcgo_sync(p, &e); rc != C.BC_OK {
		return newError(rc, e)
	}
	return nil
}

// Merge compacts the store; reads and writes keep working meanwhile.
func (d *DB) Merge() error {
	p, err := d.acquire()
	if err != nil {
		return err
	}
	defer d.mu.RUnlock()
	var e *C.char
	if rc := C.bcgo_merge(p, &e); rc != C.BC_OK {
		return newError(rc, e)
	}
	return nil
}

// Stats are the counters of a store (see struct bc_stats in bitcask.h).
type Stats struct {
	Keys             uint64 // live keys
	DataFiles        uint64 // data files in the directory
	TotalBytes       uint64 // bytes of all data files (open: without the space reserved ahead, see DisableMmapWrites)
	LiveBytes        uint64 // bytes of the records holding live values
	DeadBytes        uint64 // bytes a merge can reclaim
	CorruptRecords   uint64 // damaged records skipped at open
	CorruptBytes     uint64 // bytes of those records
	TruncatedBytes   uint64 // torn tail cut at open
	Syncs            uint64 // fsyncs of data files by this handle
	SealedLiveBytes  uint64 // live bytes of sealed files (what a merge copies)
	SealedDeadBytes  uint64 // dead bytes of sealed files (what a merge reclaims)
	Merges           uint64 // merges completed by this handle
	ReclaimedBytes   uint64 // bytes freed by this handle's merges
	HintFilesLoaded  uint64 // data files indexed from hint files at open
	DataFilesScanned uint64 // data files scanned at open
	IncompleteMerges uint64 // merges whose outputs are missing or damaged: inputs kept and served
}

// Stats returns the store's current counters.
func (d *DB) Stats() (Stats, error) {
	p, err := d.acquire()
	if err != nil {
		return Stats{}, err
	}
	defer d.mu.RUnlock()
	var s C.bc_stats
	var e *C.char
	if rc := C.bcgo_stats(p, &s, &e); rc != C.BC_OK {
		return Stats{}, newError(rc, e)
	}
	return Stats{
		Keys:             uint64(s.keys),
		DataFiles:        uint64(s.data_files),
		TotalBytes:       uint64(s.total_bytes),
		LiveBytes:        uint64(s.live_bytes),
		DeadBytes:        uint64(s.dead_bytes),
		CorruptRecords:   uint64(s.corrupt_records),
		CorruptBytes:     uint64(s.corrupt_bytes),
		TruncatedBytes:   uint64(s.truncated_bytes),
		Syncs:            uint64(s.syncs),
		SealedLiveBytes:  uint64(s.sealed_live_bytes),
		SealedDeadBytes:  uint64(s.sealed_dead_bytes),
		Merges:           uint64(s.merges),
		ReclaimedBytes:   uint64(s.reclaimed_bytes),
		HintFilesLoaded:  uint64(s.hint_files_loaded),
		DataFilesScanned: uint64(s.data_files_scanned),
		IncompleteMerges: uint64(s.incomplete_merges),
	}, nil
}

// ---- iteration ----

func (d *DB) newIter() (*iter, error) {
	p, err := d.acquire()
	if err != nil {
		return nil, err
	}
	defer d.mu.RUnlock()
	it := &iter{}
	var e *C.char
	if rc := C.bcgo_iter_new(p, &it.p, &e); rc != C.BC_OK {
		return nil, newError(rc, e)
	}
	d.itMu.Lock()
	d.iters[it] = struct{}{}
	d.itMu.Unlock()
	return it, nil
}

// next returns the next entry (copied), ok=false at the end, or an error. An ErrCorrupt error
// means that entry was skipped and the iteration can go on.
func (d *DB) iterNext(it *iter) (k, v []byte, ok bool, err error) {
	if _, err = d.acquire(); err != nil {
		return nil, nil, false, err
	}
	defer d.mu.RUnlock()
	if it.p == nil {
		return nil, nil, false, ErrClosed
	}
	var kp, vp *C.uint8_t
	var kl, vl C.size_t
	var e *C.char
	switch rc := C.bcgo_iter_next(it.p, &kp, &kl, &vp, &vl, &e); rc {
	case C.BC_OK:
		nk := int(kl)
		buf := make([]byte, nk+int(vl))
		if kl > 0 {
			copy(buf, unsafe.Slice((*byte)(unsafe.Pointer(kp)), nk))
		}
		if vl > 0 {
			copy(buf[nk:], unsafe.Slice((*byte)(unsafe.Pointer(vp)), int(vl)))
		}
		return buf[:nk:nk], buf[nk:], true, nil
	case C.BC_NOT_FOUND:
		return nil, nil, false, nil
	default:
		return nil, nil, false, newError(rc, e)
	}
}

func (d *DB) freeIter(it *iter) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if it.p == nil { // already freed by Close
		return
	}
	d.itMu.Lock()
	delete(d.iters, it)
	d.itMu.Unlock()
	C.bc_iter_free(it.p)
	it.p = nil
}

// Fold calls fn for every live key, in ascending unsigned byte order of the keys, with copies
// of the key and value (fn may keep them). It stops early when fn returns false. The set of keys
// and their values is a snapshot taken when Fold starts. fn runs with no lock held and may call
// any method of d, Close included (Fold then returns ErrClosed).
//
// A record that fails its checksum is skipped and the others are still visited; Fold then
// returns an error matching ErrCorrupt.
func (d *DB) Fold(fn func(key, value []byte) bool) error {
	if fn == nil {
		return invalid("Fold: fn must not be nil")
	}
	it, err := d.newIter()
	if err != nil {
		return err
	}
	defer d.freeIter(it)
	var corrupt error
	for {
		k, v, ok, err := d.iterNext(it)
		if err != nil {
			if errors.Is(err, ErrCorrupt) {
				if corrupt == nil {
					corrupt = err
				}
				continue
			}
			return err
		}
		if !ok || !fn(k, v) {
			return corrupt
		}
	}
}

// collectKeys returns the live keys in [start, end) (nil bound = open), sorted.
func (d *DB) collectKeys(start, end []byte) ([][]byte, error) {
	p, err := d.acquire()
	if err != nil {
		return nil, err
	}
	var buf *C.uint8_t
	var n, count C.size_t
	var e *C.char
	rc := C.bcgo_collect_keys(p, bptr(start), C.size_t(len(start)), cbool(start != nil),
		bptr(end), C.size_t(len(end)), cbool(end != nil), &buf, &n, &count, &e)
	d.mu.RUnlock()
	if rc != C.BC_OK {
		return nil, newError(rc, e)
	}
	data := goBytes(buf, n) // one Go allocation for all keys; the slices below share it
	C.free(unsafe.Pointer(buf))
	keys := make([][]byte, 0, int(count))
	for off := 0; off+8 <= len(data); {
		kl := int(binary.LittleEndian.Uint64(data[off:]))
		off += 8
		keys = append(keys, data[off:off+kl:off+kl])
		off += kl
	}
	sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 })
	return keys, nil
}

// Keys returns every live key in ascending unsigned byte order. It reads only the in-memory
// index (a C helper around bc_fold_keys), never a value.
func (d *DB) Keys() ([][]byte, error) { return d.collectKeys(nil, nil) }

// Scan calls fn for each live key in [start, end) in ascending unsigned byte order, with copies
// of the key and value; it stops early when fn returns false. A nil bound is open on that side;
// an empty non-nil end ([]byte{}) matches nothing (the empty key sorts first).
//
// How: a C helper runs bc_fold_keys with a C callback that keeps only the keys in range (one
// pass over the in-memory index, no disk read), Go sorts them, then each value is read with
// Get as fn reaches it: one disk read per matching key, none for keys outside the range, and
// nothing read past the point where fn stops. The key set is fixed when Scan starts; a key
// deleted or expired before Scan reaches it is skipped, and a value overwritten meanwhile is
// seen with its new value. fn runs with no lock held and may call any method of d.
func (d *DB) Scan(start, end []byte, fn func(key, value []byte) bool) error {
	if fn == nil {
		return invalid("Scan: fn must not be nil")
	}
	keys, err := d.collectKeys(start, end)
	if err != nil {
		return err
	}
	var corrupt error
	for _, k := range keys {
		v, err := d.Get(k)
		switch {
		case err == nil:
		case errors.Is(err, ErrNotFound):
			continue
		case errors.Is(err, ErrCorrupt):
			if corrupt == nil {
				corrupt = err
			}
			continue
		default:
			return err
		}
		if !fn(k, v) {
			break
		}
	}
	return corrupt
}

// ---- batches ----

// Batch is a group of puts and deletes that DB.Write applies all together or not at all. It
// copies keys and values. Use one Batch from one goroutine at a time (calls are serialised, so
// misuse cannot crash). Release it with Close.
type Batch struct {
	mu sync.Mutex
	p  *C.bc_batch // nil once closed
	n  int
}

// NewBatch returns an empty batch. It panics only if memory is exhausted.
func NewBatch() *Batch {
	p := C.bc_batch_new()
	if p == nil {
		panic("bitcask: bc_batch_new: out of memory")
	}
	b := &Batch{p: p}
	runtime.SetFinalizer(b, func(b *Batch) {
		if b.p != nil {
			C.bc_batch_free(b.p)
			b.p = nil
		}
	})
	return b
}

// Put adds "store value under key". The store's own limits are checked by DB.Write.
func (b *Batch) Put(key, value []byte) error {
	if b == nil {
		return ErrClosed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.p == nil {
		return ErrClosed
	}
	var e *C.char
	if rc := C.bcgo_batch_put(b.p, bptr(key), C.size_t(len(key)), bptr(value), C.size_t(len(value)), &e); rc != C.BC_OK {
		return newError(rc, e)
	}
	b.n++
	return nil
}

// Delete adds "delete key" (a tombstone whether or not the key exists).
func (b *Batch) Delete(key []byte) error {
	if b == nil {
		return ErrClosed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.p == nil {
		return ErrClosed
	}
	var e *C.char
	if rc := C.bcgo_batch_delete(b.p, bptr(key), C.size_t(len(key)), &e); rc != C.BC_OK {
		return newError(rc, e)
	}
	b.n++
	return nil
}

// Len is the number of operations in the batch.
func (b *Batch) Len() int {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// Clear removes every operation, keeping the memory for reuse. A no-op on a closed batch.
func (b *Batch) Clear() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.p != nil {
		C.bc_batch_clear(b.p)
		b.n = 0
	}
}

// Close releases the batch. A second Close returns ErrClosed.
func (b *Batch) Close() error {
	if b == nil {
		return ErrClosed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.p == nil {
		return ErrClosed
	}
	C.bc_batch_free(b.p)
	b.p = nil
	b.n = 0
	runtime.SetFinalizer(b, nil)
	return nil
}

// Write applies every operation of b, in order, all or nothing. b is unchanged and can be
// written again. An empty batch is a successful no-op.
func (d *DB) Write(b *Batch) error {
	if b == nil {
		return invalid("Write: batch must not be nil")
	}
	p, err := d.acquire()
	if err != nil {
		return err
	}
	defer d.mu.RUnlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.p == nil {
		return ErrClosed
	}
	var e *C.char
	if rc := C.bcgo_write(p, b.p, &e); rc != C.BC_OK {
		return newError(rc, e)
	}
	return nil
}
