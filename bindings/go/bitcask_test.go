package bitcask_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"bitcask"
)

func open(t *testing.T, dir string, opts *bitcask.Options) *bitcask.DB {
	t.Helper()
	db, err := bitcask.Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", dir, err)
	}
	return db
}

func openTemp(t *testing.T, opts *bitcask.Options) (*bitcask.DB, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "db")
	db := open(t, dir, opts)
	t.Cleanup(func() { db.Close() })
	return db, dir
}

func mustPut(t *testing.T, db *bitcask.DB, k, v string) {
	t.Helper()
	if err := db.Put([]byte(k), []byte(v)); err != nil {
		t.Fatalf("Put(%q): %v", k, err)
	}
}

func mustGet(t *testing.T, db *bitcask.DB, k string) string {
	t.Helper()
	v, err := db.Get([]byte(k))
	if err != nil {
		t.Fatalf("Get(%q): %v", k, err)
	}
	return string(v)
}

func assertNotFound(t *testing.T, db *bitcask.DB, k string) {
	t.Helper()
	v, err := db.Get([]byte(k))
	if !errors.Is(err, bitcask.ErrNotFound) || v != nil {
		t.Fatalf("Get(%q) = %q, %v; want nil, ErrNotFound", k, v, err)
	}
}

// wantCode checks err is an *Error with the code, a sentinel match and a library message.
func wantCode(t *testing.T, err error, sentinel *bitcask.Error, msgPart string) *bitcask.Error {
	t.Helper()
	var e *bitcask.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *bitcask.Error", err, err)
	}
	if e.Code != sentinel.Code || !errors.Is(err, sentinel) {
		t.Fatalf("error %v: code %d, want %d", err, e.Code, sentinel.Code)
	}
	if e.Msg == "" || !strings.Contains(e.Msg, msgPart) {
		t.Fatalf("error message %q does not contain %q", e.Msg, msgPart)
	}
	return e
}

func TestVersion(t *testing.T) {
	if bitcask.Version() != bitcask.HeaderVersion {
		t.Fatalf("library version %q, header %q", bitcask.Version(), bitcask.HeaderVersion)
	}
}

func TestRoundTripBinary(t *testing.T) {
	db, dir := openTemp(t, nil)
	cases := []struct{ k, v []byte }{
		{[]byte{0}, []byte{0, 0, 0}},
		{[]byte{0, 'a', 0}, []byte("nul\x00inside")},
		{[]byte{0xff, 0xfe, 0x80}, []byte{0xff}},
		{[]byte("empty"), []byte{}},
		{[]byte("nil-value"), nil},
		{[]byte("big"), bytes.Repeat([]byte{1, 2, 3, 0}, 256<<10)}, // 1 MiB
	}
	for _, c := range cases {
		if err := db.Put(c.k, c.v); err != nil {
			t.Fatalf("Put(%x): %v", c.k, err)
		}
	}
	check := func(db *bitcask.DB) {
		for _, c := range cases {
			got, err := db.Get(c.k)
			if err != nil {
				t.Fatalf("Get(%x): %v", c.k, err)
			}
			if got == nil || !bytes.Equal(got, c.v) {
				t.Fatalf("Get(%x) = %d bytes (nil=%v), want %d", c.k, len(got), got == nil, len(c.v))
			}
			if ok, err := db.Has(c.k); !ok || err != nil {
				t.Fatalf("Has(%x) = %v, %v", c.k, ok, err)
			}
		}
	}
	check(db)

	// The binding copies: changing the caller's or the returned slices changes nothing stored.
	k, v := []byte("mut"), []byte("before")
	mustPut(t, db, string(k), string(v))
	if err := db.Put(k, v); err != nil {
		t.Fatal(err)
	}
	copy(v, "XXXXXX")
	got, _ := db.Get(k)
	if string(got) != "before" {
		t.Fatalf("stored value changed with the caller's slice: %q", got)
	}
	got[0] = 'Z'
	if mustGet(t, db, "mut") != "before" {
		t.Fatal("returned slice aliases the store")
	}

	// Overwrite, then reopen.
	mustPut(t, db, "empty", "now-full")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, dir, nil)
	defer db.Close()
	cases[3].v = []byte("now-full")
	check(db)
}

func TestNotFoundAndInvalid(t *testing.T) {
	db, _ := openTemp(t, nil)
	assertNotFound(t, db, "nope")
	if err := db.Delete([]byte("nope")); !errors.Is(err, bitcask.ErrNotFound) {
		t.Fatalf("Delete(absent) = %v, want ErrNotFound", err)
	}
	if ok, err := db.Has([]byte("nope")); ok || err != nil {
		t.Fatalf("Has(absent) = %v, %v", ok, err)
	}
	mustPut(t, db, "k", "v")
	if err := db.Delete([]byte("k")); err != nil {
		t.Fatal(err)
	}
	assertNotFound(t, db, "k")
	if errors.Is(bitcask.ErrNotFound, bitcask.ErrTooLarge) {
		t.Fatal("sentinels with different codes must not match")
	}

	// Empty keys are invalid in every call; the message comes from the library.
	wantCode(t, db.Put(nil, []byte("v")), bitcask.ErrInvalid, "bc_put")
	wantCode(t, db.Put([]byte{}, nil), bitcask.ErrInvalid, "bc_put")
	_, err := db.Get(nil)
	wantCode(t, err, bitcask.ErrInvalid, "bc_get")
	wantCode(t, db.Delete(nil), bitcask.ErrInvalid, "bc_delete")
	_, err = db.Has(nil)
	wantCode(t, err, bitcask.ErrInvalid, "bc_contains")
	wantCode(t, db.PutTTL([]byte("k"), nil, 0), bitcask.ErrInvalid, "bc_put_ttl")
	wantCode(t, db.PutTTL([]byte("k"), nil, -time.Second), bitcask.ErrInvalid, "bc_put_ttl")
	wantCode(t, db.Fold(nil), bitcask.ErrInvalid, "Fold")
	wantCode(t, db.Scan(nil, nil, nil), bitcask.ErrInvalid, "Scan")
	wantCode(t, db.Write(nil), bitcask.ErrInvalid, "Write")

	// The error text names the function and the code.
	err = db.Put(nil, nil)
	if s := err.Error(); !strings.Contains(s, "bc_put") || !strings.Contains(s, "BC_E_INVALID") {
		t.Fatalf("Error() = %q", s)
	}
}

func TestLimits(t *testing.T) {
	db, _ := openTemp(t, &bitcask.Options{MaxKeySize: 8, MaxValueSize: 16})
	mustPut(t, db, "12345678", "0123456789abcdef") // exactly at both limits
	e := wantCode(t, db.Put([]byte("123456789"), nil), bitcask.ErrTooLarge, "bc_put")
	if e.Code != -6 || bitcask.CodeTooLarge != -6 {
		t.Fatalf("code %d", e.Code)
	}
	wantCode(t, db.Put([]byte("k"), make([]byte, 17)), bitcask.ErrTooLarge, "bc_put")
	wantCode(t, db.PutTTL([]byte("k"), make([]byte, 17), time.Hour), bitcask.ErrTooLarge, "bc_put_ttl")
	_, err := db.Get([]byte("123456789"))
	wantCode(t, err, bitcask.ErrTooLarge, "bc_get")
	assertNotFound(t, db, "k")

	// A batch with one oversized operation writes nothing.
	b := bitcask.NewBatch()
	defer b.Close()
	b.Put([]byte("a"), []byte("1"))
	b.Put([]byte("b"), make([]byte, 17))
	b.Delete([]byte("12345678"))
	wantCode(t, db.Write(b), bitcask.ErrTooLarge, "bc_write")
	assertNotFound(t, db, "a")
	if mustGet(t, db, "12345678") != "0123456789abcdef" {
		t.Fatal("failed batch changed the store")
	}

	// MaxValueSizeZero allows only empty values.
	db2, _ := openTemp(t, &bitcask.Options{MaxValueSize: bitcask.MaxValueSizeZero})
	mustPut(t, db2, "k", "")
	wantCode(t, db2.Put([]byte("k"), []byte("x")), bitcask.ErrTooLarge, "bc_put")
}

func TestOpenErrors(t *testing.T) {
	base := t.TempDir()
	_, err := bitcask.Open(filepath.Join(base, "x"), &bitcask.Options{MaxFileSize: 10})
	wantCode(t, err, bitcask.ErrInvalid, "max_file_size")
	_, err = bitcask.Open(filepath.Join(base, "x"), &bitcask.Options{Sync: bitcask.SyncInterval})
	wantCode(t, err, bitcask.ErrInvalid, "bc_options_set_sync")
	_, err = bitcask.Open(filepath.Join(base, "x"), &bitcask.Options{MergeFragmentationPercent: 101})
	wantCode(t, err, bitcask.ErrInvalid, "bc_options_set_merge_trigger")
	_, err = bitcask.Open(filepath.Join(base, "x"), &bitcask.Options{MaxKeySize: 2 << 20})
	wantCode(t, err, bitcask.ErrInvalid, "bc_options_set_max_key_size")
	_, err = bitcask.Open(filepath.Join(base, "x"), &bitcask.Options{ExpectedKeys: 1<<32 + 1})
	wantCode(t, err, bitcask.ErrInvalid, "bc_options_set_expected_keys")
	_, err = bitcask.Open("", nil)
	wantCode(t, err, bitcask.ErrInvalid, "bc_open")
	_, err = bitcask.Open(base+"/a\x00b", nil)
	wantCode(t, err, bitcask.ErrInvalid, "NUL")
	_, err = bitcask.Open(filepath.Join(base, "missing"), &bitcask.Options{ErrorIfMissing: true})
	wantCode(t, err, bitcask.ErrIO, "bc_open")
	if _, serr := os.Stat(filepath.Join(base, "missing")); !os.IsNotExist(serr) {
		t.Fatal("ErrorIfMissing created the directory")
	}
	file := filepath.Join(base, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	_, err = bitcask.Open(file, nil)
	wantCode(t, err, bitcask.ErrInvalid, "bc_open")

	// Every option accepted together.
	db := open(t, filepath.Join(base, "all"), &bitcask.Options{
		MaxFileSize: 1 << 20, Sync: bitcask.SyncInterval, SyncInterval: 50 * time.Millisecond,
		MaxKeySize: 1024, MaxValueSize: 1 << 20, MaxOpenFiles: 8, ExpectedKeys: 1000, Expiry: time.Hour,
		AutoMerge: true, MergeFragmentationPercent: 50, MergeDeadBytes: 1 << 20,
	})
	mustPut(t, db, "k", "v")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestReadOnlyAndLocked(t *testing.T) {
	db, dir := openTemp(t, nil)
	mustPut(t, db, "k", "v")
	if err := db.Sync(); err != nil {
		t.Fatal(err)
	}

	// A second read-write handle is refused; a read-only one opens beside the writer.
	_, err := bitcask.Open(dir, nil)
	wantCode(t, err, bitcask.ErrLocked, "bc_open")
	ro := open(t, dir, &bitcask.Options{ReadOnly: true})
	defer ro.Close()
	if mustGet(t, ro, "k") != "v" {
		t.Fatal("read-only handle does not see the data")
	}
	wantCode(t, ro.Put([]byte("k"), []byte("w")), bitcask.ErrReadOnly, "bc_put")
	wantCode(t, ro.PutTTL([]byte("k"), []byte("w"), time.Hour), bitcask.ErrReadOnly, "bc_put_ttl")
	wantCode(t, ro.Delete([]byte("k")), bitcask.ErrReadOnly, "bc_delete")
	wantCode(t, ro.Merge(), bitcask.ErrReadOnly, "bc_merge")
	b := bitcask.NewBatch()
	defer b.Close()
	b.Put([]byte("x"), []byte("y"))
	wantCode(t, ro.Write(b), bitcask.ErrReadOnly, "bc_write")
	if err := ro.Sync(); err != nil {
		t.Fatalf("Sync on read-only: %v", err)
	}
	keys, err := ro.Keys()
	if err != nil || len(keys) != 1 {
		t.Fatalf("Keys on read-only: %q, %v", keys, err)
	}
	if mustGet(t, ro, "k") != "v" {
		t.Fatal("failed writes changed the read-only view")
	}

	// After the writer closes, the lock is free again.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2 := open(t, dir, nil)
	db2.Close()
}

func TestBatch(t *testing.T) {
	db, dir := openTemp(t, nil)
	mustPut(t, db, "gone", "x")
	b := bitcask.NewBatch()
	if err := b.Put([]byte("a"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	b.Put([]byte("b"), []byte{})
	b.Delete([]byte("gone"))
	b.Delete([]byte("never-existed"))
	b.Put([]byte("c"), []byte("old"))
	b.Delete([]byte("c"))
	b.Put([]byte("c"), []byte("new")) // later op wins
	if b.Len() != 7 {
		t.Fatalf("Len = %d", b.Len())
	}
	wantCode(t, b.Put(nil, []byte("x")), bitcask.ErrInvalid, "bc_batch_put")
	wantCode(t, b.Delete(nil), bitcask.ErrInvalid, "bc_batch_delete")
	if err := db.Write(b); err != nil {
		t.Fatal(err)
	}
	if mustGet(t, db, "a") != "1" || mustGet(t, db, "b") != "" || mustGet(t, db, "c") != "new" {
		t.Fatal("batch not applied")
	}
	assertNotFound(t, db, "gone")

	// The batch is unchanged by Write and can be written again; Clear empties it.
	mustPut(t, db, "a", "changed")
	if err := db.Write(b); err != nil || mustGet(t, db, "a") != "1" {
		t.Fatalf("rewrite: %v", err)
	}
	b.Clear()
	if b.Len() != 0 {
		t.Fatal("Clear left operations")
	}
	mustPut(t, db, "a", "kept")
	if err := db.Write(b); err != nil || mustGet(t, db, "a") != "kept" {
		t.Fatalf("empty batch: %v", err)
	}

	// Closed batches fail cleanly.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); !errors.Is(err, bitcask.ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
	if err := b.Put([]byte("k"), nil); !errors.Is(err, bitcask.ErrClosed) {
		t.Fatalf("Put on closed batch = %v", err)
	}
	if err := b.Delete([]byte("k")); !errors.Is(err, bitcask.ErrClosed) {
		t.Fatalf("Delete on closed batch = %v", err)
	}
	b.Clear()
	if err := db.Write(b); !errors.Is(err, bitcask.ErrClosed) {
		t.Fatalf("Write(closed batch) = %v", err)
	}

	// Survives reopen.
	db.Close()
	db = open(t, dir, nil)
	defer db.Close()
	if mustGet(t, db, "c") != "new" || mustGet(t, db, "a") != "kept" {
		t.Fatal("batch lost on reopen")
	}
}

// Readers never see half a batch: each batch sets a and b to the same value.
func TestBatchAtomicUnderConcurrency(t *testing.T) {
	db, _ := openTemp(t, nil)
	mustPut(t, db, "a", "0")
	mustPut(t, db, "b", "0")
	var done int32
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			for atomic.LoadInt32(&done) == 0 {
				vals := map[string]string{}
				var err error
				if r%2 == 0 {
					err = db.Fold(func(k, v []byte) bool { vals[string(k)] = string(v); return true })
				} else {
					err = db.Scan([]byte("a"), []byte("c"), func(k, v []byte) bool { vals[string(k)] = string(v); return true })
				}
				if err != nil {
					errs <- err
					return
				}
				// Fold is a snapshot; Scan reads values as it goes, so only check Fold strictly.
				if r%2 == 0 && vals["a"] != vals["b"] {
					errs <- fmt.Errorf("fold saw a=%s b=%s", vals["a"], vals["b"])
					return
				}
			}
		}(r)
	}
	b := bitcask.NewBatch()
	defer b.Close()
	for i := 1; i <= 1000; i++ {
		b.Clear()
		v := []byte(fmt.Sprint(i))
		b.Put([]byte("a"), v)
		b.Put([]byte("b"), v)
		if err := db.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	atomic.StoreInt32(&done, 1)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func orderedFixture(t *testing.T) (*bitcask.DB, [][]byte) {
	db, _ := openTemp(t, nil)
	keys := [][]byte{
		{0x00}, {0x00, 0x00}, []byte("a"), []byte("a\x00"), []byte("ab"), []byte("b"),
		{0x7f}, {0x80}, {0xff}, {0xff, 0xff},
	}
	// Insert in a scrambled order.
	for _, i := range []int{5, 9, 0, 3, 7, 1, 8, 2, 6, 4} {
		if err := db.Put(keys[i], append([]byte("v-"), keys[i]...)); err != nil {
			t.Fatal(err)
		}
	}
	return db, keys
}

func collectScan(t *testing.T, db *bitcask.DB, start, end []byte) [][]byte {
	t.Helper()
	var got [][]byte
	err := db.Scan(start, end, func(k, v []byte) bool {
		if !bytes.Equal(v, append([]byte("v-"), k...)) {
			t.Fatalf("Scan: value %q for key %x", v, k)
		}
		got = append(got, k)
		return true
	})
	if err != nil {
		t.Fatalf("Scan(%x, %x): %v", start, end, err)
	}
	return got
}

func eqKeys(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d keys %x, want %d %x", what, len(got), got, len(want), want)
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s: key %d = %x, want %x (got %x)", what, i, got[i], want[i], got)
		}
	}
}

func TestFoldKeysOrder(t *testing.T) {
	db, keys := orderedFixture(t)
	got, err := db.Keys()
	if err != nil {
		t.Fatal(err)
	}
	eqKeys(t, "Keys", got, keys)
	if !sort.SliceIsSorted(got, func(i, j int) bool { return bytes.Compare(got[i], got[j]) < 0 }) {
		t.Fatal("Keys not sorted")
	}

	var folded [][]byte
	if err := db.Fold(func(k, v []byte) bool {
		if !bytes.Equal(v, append([]byte("v-"), k...)) {
			t.Fatalf("Fold: value %q for %x", v, k)
		}
		folded = append(folded, k)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	eqKeys(t, "Fold", folded, keys)

	// Early stop.
	n := 0
	if err := db.Fold(func(k, v []byte) bool { n++; return n < 3 }); err != nil || n != 3 {
		t.Fatalf("Fold early stop: n=%d err=%v", n, err)
	}

	// fn may write to the same DB (no lock is held while it runs); the snapshot is unchanged.
	seen := 0
	if err := db.Fold(func(k, v []byte) bool {
		seen++
		if err := db.Put(append([]byte("new-"), k...), v); err != nil {
			t.Fatalf("Put inside Fold: %v", err)
		}
		if err := db.Delete(keys[len(keys)-1]); err != nil && !errors.Is(err, bitcask.ErrNotFound) {
			t.Fatalf("Delete inside Fold: %v", err)
		}
		return true
	}); err != nil || seen != len(keys) {
		t.Fatalf("Fold with writes: seen %d, err %v", seen, err)
	}

	// Empty store.
	empty, _ := openTemp(t, nil)
	if ks, err := empty.Keys(); err != nil || len(ks) != 0 {
		t.Fatalf("Keys on empty: %v %v", ks, err)
	}
	if err := empty.Fold(func(k, v []byte) bool { t.Fatal("called"); return true }); err != nil {
		t.Fatal(err)
	}
}

func TestScanBounds(t *testing.T) {
	db, keys := orderedFixture(t)
	eqKeys(t, "all", collectScan(t, db, nil, nil), keys)
	eqKeys(t, "empty start", collectScan(t, db, []byte{}, nil), keys)
	eqKeys(t, "[a,b)", collectScan(t, db, []byte("a"), []byte("b")), keys[2:5])
	eqKeys(t, "[a,ab]", collectScan(t, db, []byte("a"), []byte("ab\x00")), keys[2:5])
	eqKeys(t, "[a\\0,b]", collectScan(t, db, []byte("a\x00"), []byte("b\x00")), keys[3:6])
	eqKeys(t, "(..,a)", collectScan(t, db, nil, []byte("a")), keys[:2])
	eqKeys(t, "[0x80,..)", collectScan(t, db, []byte{0x80}, nil), keys[7:])
	eqKeys(t, "[0x00,0x00 0x00)", collectScan(t, db, []byte{0}, []byte{0, 0}), keys[:1])
	eqKeys(t, "between keys", collectScan(t, db, []byte("aa"), []byte("ab")), nil)
	eqKeys(t, "empty end", collectScan(t, db, nil, []byte{}), nil)
	eqKeys(t, "start > end", collectScan(t, db, []byte("b"), []byte("a")), nil)
	eqKeys(t, "start == end", collectScan(t, db, []byte("b"), []byte("b")), nil)

	// Early stop.
	n := 0
	if err := db.Scan([]byte("a"), nil, func(k, v []byte) bool { n++; return false }); err != nil || n != 1 {
		t.Fatalf("Scan early stop: n=%d err=%v", n, err)
	}

	// A key deleted during the scan, before it is reached, is skipped; writes do not deadlock.
	var got [][]byte
	err := db.Scan([]byte("a"), []byte("b\x00"), func(k, v []byte) bool {
		got = append(got, k)
		if bytes.Equal(k, []byte("a")) {
			if err := db.Delete([]byte("ab")); err != nil {
				t.Fatal(err)
			}
			if err := db.Put([]byte("aa"), []byte("v-aa")); err != nil { // not in the key set
				t.Fatal(err)
			}
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	eqKeys(t, "scan with delete", got, [][]byte{[]byte("a"), []byte("a\x00"), []byte("b")})
}

// One sleep covers per-key TTLs and the store-wide expiry.
func TestExpiry(t *testing.T) {
	db, dir := openTemp(t, nil)
	if err := db.PutTTL([]byte("short"), []byte("v"), time.Second); err != nil {
		t.Fatal(err)
	}
	if err := db.PutTTL([]byte("sub-second"), []byte("v"), 200*time.Millisecond); err != nil { // rounds up to 1 s
		t.Fatal(err)
	}
	if err := db.PutTTL([]byte("long"), []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := db.PutTTL([]byte("made-permanent"), []byte("v"), time.Second); err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, "made-permanent", "p")
	mustPut(t, db, "plain", "v")
	if ok, _ := db.Has([]byte("short")); !ok || mustGet(t, db, "short") != "v" {
		t.Fatal("TTL key missing before expiry")
	}

	store, _ := openTemp(t, &bitcask.Options{Expiry: time.Second})
	mustPut(t, store, "k", "v")
	if store.PutTTL([]byte("k2"), []byte("v"), time.Hour) != nil || mustGet(t, store, "k") != "v" {
		t.Fatal("store-wide expiry: key missing before expiry")
	}

	time.Sleep(2100 * time.Millisecond)

	for _, k := range []string{"short", "sub-second"} {
		assertNotFound(t, db, k)
		if ok, err := db.Has([]byte(k)); ok || err != nil {
			t.Fatalf("Has(%s) after expiry = %v, %v", k, ok, err)
		}
	}
	want := [][]byte{[]byte("long"), []byte("made-permanent"), []byte("plain")}
	keys, _ := db.Keys()
	eqKeys(t, "Keys after expiry", keys, want)
	var folded [][]byte
	db.Fold(func(k, v []byte) bool { folded = append(folded, k); return true })
	eqKeys(t, "Fold after expiry", folded, want)
	var scanned [][]byte
	db.Scan(nil, nil, func(k, v []byte) bool { scanned = append(scanned, k); return true })
	eqKeys(t, "Scan after expiry", scanned, want)

	assertNotFound(t, store, "k")
	assertNotFound(t, store, "k2") // the store-wide expiry ends sooner and wins

	// Still expired after reopen.
	db.Close()
	db = open(t, dir, nil)
	defer db.Close()
	assertNotFound(t, db, "short")
	if mustGet(t, db, "long") != "v" {
		t.Fatal("long TTL key lost")
	}
}

func TestMergeReopenAndStats(t *testing.T) {
	db, dir := openTemp(t, &bitcask.Options{MaxFileSize: 4096, Sync: bitcask.SyncAlways})
	want := map[string]string{}
	for round := 0; round < 3; round++ {
		for i := 0; i < 200; i++ {
			k, v := fmt.Sprintf("key-%03d", i), fmt.Sprintf("value-%d-%d", i, round)
			mustPut(t, db, k, v)
			want[k] = v
		}
	}
	for i := 0; i < 200; i += 3 {
		k := fmt.Sprintf("key-%03d", i)
		if err := db.Delete([]byte(k)); err != nil {
			t.Fatal(err)
		}
		delete(want, k)
	}
	before, err := db.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if before.Keys != uint64(len(want)) || before.DataFiles < 2 || before.DeadBytes == 0 ||
		before.LiveBytes == 0 || before.TotalBytes < before.LiveBytes+before.DeadBytes ||
		before.Syncs == 0 || before.SealedDeadBytes == 0 || before.Merges != 0 {
		t.Fatalf("stats before merge: %+v (want %d keys)", before, len(want))
	}
	if err := db.Merge(); err != nil {
		t.Fatal(err)
	}
	after, err := db.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if after.Merges != 1 || after.Keys != before.Keys || after.DeadBytes >= before.DeadBytes ||
		after.TotalBytes >= before.TotalBytes || after.ReclaimedBytes == 0 {
		t.Fatalf("stats after merge: %+v\nbefore: %+v", after, before)
	}
	check := func(db *bitcask.DB) {
		keys, err := db.Keys()
		if err != nil || len(keys) != len(want) {
			t.Fatalf("Keys: %d, %v; want %d", len(keys), err, len(want))
		}
		for k, v := range want {
			if got := mustGet(t, db, k); got != v {
				t.Fatalf("%s = %q, want %q", k, got, v)
			}
		}
	}
	check(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, dir, nil)
	defer db.Close()
	check(db)
	st, err := db.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.HintFilesLoaded == 0 || st.Keys != uint64(len(want)) || st.CorruptRecords != 0 || st.TruncatedBytes != 0 {
		t.Fatalf("stats after reopen: %+v", st)
	}
	if err := db.Sync(); err != nil {
		t.Fatal(err)
	}
}

// 32 goroutines share one DB under the race detector.
func TestConcurrentGoroutines(t *testing.T) {
	db, _ := openTemp(t, &bitcask.Options{Sync: bitcask.SyncAlways, MaxFileSize: 64 << 10})
	const workers, ops = 32, 150
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			fail := func(err error) { errs <- fmt.Errorf("worker %d: %w", w, err) }
			b := bitcask.NewBatch()
			defer b.Close()
			for i := 0; i < ops; i++ {
				k := []byte(fmt.Sprintf("w%02d-%04d", w, i))
				v := bytes.Repeat([]byte{byte(w), byte(i)}, i%50)
				if err := db.Put(k, v); err != nil {
					fail(err)
					return
				}
				got, err := db.Get(k)
				if err != nil || !bytes.Equal(got, v) {
					fail(fmt.Errorf("Get(%s) = %x, %v", k, got, err))
					return
				}
				switch i % 10 {
				case 0:
					if err := db.Delete(k); err != nil {
						fail(err)
						return
					}
				case 3:
					b.Clear()
					b.Put(append(k, 'b'), v)
					b.Delete(k)
					if err := db.Write(b); err != nil {
						fail(err)
						return
					}
				case 5:
					if _, err := db.Stats(); err != nil {
						fail(err)
						return
					}
				case 7:
					n := 0
					prefix := []byte(fmt.Sprintf("w%02d-", w))
					end := []byte(fmt.Sprintf("w%02d.", w))
					var prev []byte
					if err := db.Scan(prefix, end, func(k, v []byte) bool {
						if prev != nil && bytes.Compare(prev, k) >= 0 {
							fail(fmt.Errorf("scan out of order %s >= %s", prev, k))
						}
						prev = k
						n++
						return true
					}); err != nil {
						fail(err)
						return
					}
				case 9:
					if w%8 == 0 {
						if err := db.Fold(func(k, v []byte) bool { return true }); err != nil {
							fail(err)
							return
						}
					}
				}
			}
		}(w)
	}
	// Merges and syncs run alongside.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 3; i++ {
			if err := db.Merge(); err != nil {
				errs <- err
			}
			if err := db.Sync(); err != nil {
				errs <- err
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Final state per worker: i%10==0 deleted, i%10==3 moved to k+"b", the rest present.
	keys, err := db.Keys()
	if err != nil {
		t.Fatal(err)
	}
	if want := workers * ops * 9 / 10; len(keys) != want {
		t.Fatalf("%d keys, want %d", len(keys), want)
	}
	st, _ := db.Stats()
	if st.Keys != uint64(len(keys)) || st.Syncs == 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestUseAfterClose(t *testing.T) {
	db, _ := openTemp(t, nil)
	mustPut(t, db, "k", "v")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	closed := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, bitcask.ErrClosed) {
			t.Fatalf("%s after Close = %v, want ErrClosed", what, err)
		}
	}
	closed("Close", db.Close())
	_, err := db.Get([]byte("k"))
	closed("Get", err)
	_, err = db.Has([]byte("k"))
	closed("Has", err)
	closed("Put", db.Put([]byte("k"), nil))
	closed("PutTTL", db.PutTTL([]byte("k"), nil, time.Second))
	closed("Delete", db.Delete([]byte("k")))
	closed("Sync", db.Sync())
	closed("Merge", db.Merge())
	_, err = db.Stats()
	closed("Stats", err)
	_, err = db.Keys()
	closed("Keys", err)
	closed("Fold", db.Fold(func(k, v []byte) bool { return true }))
	closed("Scan", db.Scan(nil, nil, func(k, v []byte) bool { return true }))
	b := bitcask.NewBatch()
	defer b.Close()
	closed("Write", db.Write(b))

	var nilDB *bitcask.DB
	closed("nil Close", nilDB.Close())
	closed("nil Put", nilDB.Put([]byte("k"), nil))
}

// Close from inside Fold (and from another goroutine during Fold/Scan) stops them cleanly.
func TestCloseDuringIteration(t *testing.T) {
	db, dir := openTemp(t, nil)
	for i := 0; i < 100; i++ {
		mustPut(t, db, fmt.Sprintf("k%03d", i), "v")
	}
	n := 0
	err := db.Fold(func(k, v []byte) bool {
		n++
		if n == 10 {
			if err := db.Close(); err != nil {
				t.Fatalf("Close inside Fold: %v", err)
			}
		}
		return true
	})
	if !errors.Is(err, bitcask.ErrClosed) || n != 10 {
		t.Fatalf("Fold after Close inside: n=%d err=%v", n, err)
	}

	db = open(t, dir, nil)
	n = 0
	err = db.Scan(nil, nil, func(k, v []byte) bool {
		n++
		if n == 5 {
			db.Close()
		}
		return true
	})
	if !errors.Is(err, bitcask.ErrClosed) || n != 5 {
		t.Fatalf("Scan after Close inside: n=%d err=%v", n, err)
	}

	// Many goroutines working while another closes: every call succeeds or returns ErrClosed.
	db = open(t, dir, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				var err error
				switch i % 4 {
				case 0:
					err = db.Put([]byte(fmt.Sprintf("c%d-%d", w, i)), []byte("x"))
				case 1:
					_, err = db.Get([]byte("k001"))
				case 2:
					err = db.Fold(func(k, v []byte) bool { return true })
				case 3:
					err = db.Scan([]byte("k"), []byte("l"), func(k, v []byte) bool { return true })
				}
				if errors.Is(err, bitcask.ErrClosed) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	time.Sleep(100 * time.Millisecond)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// The lock was released: the store reopens with its data.
	db = open(t, dir, nil)
	defer db.Close()
	if mustGet(t, db, "k050") != "v" {
		t.Fatal("data lost")
	}
}

// A panic in a Fold callback propagates as a normal Go panic (no C frames in between); the
// iterator is still freed, and the DB stays usable and closes cleanly.
func TestPanicInFold(t *testing.T) {
	db, _ := openTemp(t, nil)
	mustPut(t, db, "a", "1")
	mustPut(t, db, "b", "2")
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v", r)
			}
		}()
		db.Fold(func(k, v []byte) bool { panic("boom") })
	}()
	if mustGet(t, db, "b") != "2" {
		t.Fatal("db unusable after panic")
	}
	if err := db.Merge(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// The message of every error belongs to the call that failed, also while goroutines fail in
// different ways at once and move between OS threads (the message is read in the same C call).
func TestErrorMessagesPerCall(t *testing.T) {
	db, dir := openTemp(t, &bitcask.Options{MaxKeySize: 8})
	ro := open(t, dir, &bitcask.Options{ReadOnly: true})
	defer ro.Close()
	long := []byte("123456789")
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for w := 0; w < 24; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				var err error
				var want *bitcask.Error
				var fn string
				switch (w + i) % 4 {
				case 0:
					err, want, fn = db.Put(nil, nil), bitcask.ErrInvalid, "bc_put:"
				case 1:
					_, err = db.Get(long)
					want, fn = bitcask.ErrTooLarge, "bc_get:"
				case 2:
					err, want, fn = ro.Delete([]byte("k")), bitcask.ErrReadOnly, "bc_delete:"
				case 3:
					_, err = db.Has(long)
					want, fn = bitcask.ErrTooLarge, "bc_contains:"
				}
				var e *bitcask.Error
				if !errors.As(err, &e) || e.Code != want.Code || !strings.HasPrefix(e.Msg, fn) {
					errs <- fmt.Errorf("got %v, want code %d and a message starting %q", err, want.Code, fn)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// hintFiles returns the format version (little-endian u16 at byte 8) and size of each *.hint
// file in dir.
func hintFiles(t *testing.T, dir string) (versions []int, size int64) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.hint"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 10 {
			t.Fatalf("%s: %d bytes, too short for a header", p, len(b))
		}
		versions = append(versions, int(b[8])|int(b[9])<<8)
		size += int64(len(b))
	}
	return versions, size
}

// KeyedHints writes hints listing their keys (version 1); the default writes a merge's output
// with a compact hint (version 2, no keys). Both reopen with the same data.
func TestCompactAndKeyedHints(t *testing.T) {
	const n = 300
	key := func(i int) string { return fmt.Sprintf("hint-key-%05d-%s", i, strings.Repeat("k", 24)) }
	val := func(i int) string { return fmt.Sprintf("value-%d", i) }
	build := func(opts *bitcask.Options) (string, []int, int64) {
		dir := filepath.Join(t.TempDir(), "db")
		db := open(t, dir, opts)
		for i := 0; i < n; i++ {
			mustPut(t, db, key(i), val(i))
		}
		if err := db.Merge(); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		versions, size := hintFiles(t, dir)
		if len(versions) == 0 {
			t.Fatalf("opts %+v: no *.hint file after Merge and Close", opts)
		}
		db = open(t, dir, nil)
		defer db.Close()
		for i := 0; i < n; i++ {
			if got := mustGet(t, db, key(i)); got != val(i) {
				t.Fatalf("after reopen: %s = %q, want %q", key(i), got, val(i))
			}
		}
		st, err := db.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.Keys != n || st.HintFilesLoaded == 0 {
			t.Fatalf("stats after reopen: %+v", st)
		}
		return dir, versions, size
	}

	_, keyed, keyedSize := build(&bitcask.Options{KeyedHints: true})
	for _, v := range keyed {
		if v != 1 {
			t.Fatalf("KeyedHints: hint versions %v, want all 1", keyed)
		}
	}
	_, compact, compactSize := build(&bitcask.Options{})
	t.Logf("hint versions/bytes: keyed %v %d, compact %v %d", keyed, keyedSize, compact, compactSize)
	found := false
	for _, v := range compact {
		found = found || v == 2
	}
	if !found {
		t.Fatalf("default options: hint versions %v, want a compact (2) hint", compact)
	}
	if compactSize*4 > keyedSize {
		t.Fatalf("compact hints take %d bytes, keyed hints %d: want under a quarter", compactSize, keyedSize)
	}
}

// dataFileBytes is the sum of the sizes of the *.data files in dir.
func dataFileBytes(t *testing.T, dir string) uint64 {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.data"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no *.data file in %s", dir)
	}
	var sum uint64
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		sum += uint64(fi.Size())
	}
	return sum
}

// With DisableMmapWrites the data files hold exactly their records while the store is open; by
// default (mmap writes, on an ext4 /tmp) the active file is longer by the space reserved ahead.
func TestMmapWrites(t *testing.T) {
	fill := func(opts *bitcask.Options) (onDisk, total uint64, db *bitcask.DB, dir string) {
		db, dir = openTemp(t, opts)
		for i := 0; i < 50; i++ {
			mustPut(t, db, fmt.Sprintf("mmap-%02d", i), strings.Repeat(string(rune('a'+i%26)), 100))
		}
		st, err := db.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.Keys != 50 {
			t.Fatalf("stats: %+v", st)
		}
		return dataFileBytes(t, dir), st.TotalBytes, db, dir
	}

	onDisk, total, db, dir := fill(&bitcask.Options{DisableMmapWrites: true})
	if onDisk != total {
		t.Fatalf("DisableMmapWrites: data files take %d bytes while open, stats say %d", onDisk, total)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, dir, &bitcask.Options{DisableMmapWrites: true})
	if got := mustGet(t, db, "mmap-49"); got != strings.Repeat("x", 100) {
		t.Fatalf("mmap-49 = %q after reopen", got)
	}
	db.Close()

	onDisk, total, db, dir = fill(&bitcask.Options{}) // the zero value keeps mmap writes on
	t.Logf("default options: data files %d bytes while open, stats %d", onDisk, total)
	if onDisk <= total {
		t.Fatalf("default options: data files take %d bytes while open, stats say %d; want more (space reserved for mmap writes on ext4)", onDisk, total)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if after := dataFileBytes(t, dir); after != total {
		t.Fatalf("default options: data files take %d bytes after Close, want %d", after, total)
	}
}

// ExpectedKeys sizes the index at open; a store filled past it, or reopened with a smaller
// expectation (or none), holds and reads every key.
func TestExpectedKeys(t *testing.T) {
	const n = 5000
	key := func(i int) string { return fmt.Sprintf("expected-%05d", i) }
	val := func(i int) string { return fmt.Sprintf("value-%d", i*7) }
	check := func(db *bitcask.DB, what string) {
		t.Helper()
		for i := 0; i < n; i++ {
			if got := mustGet(t, db, key(i)); got != val(i) {
				t.Fatalf("%s: %s = %q, want %q", what, key(i), got, val(i))
			}
		}
		st, err := db.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.Keys != n {
			t.Fatalf("%s: stats %+v, want %d keys", what, st, n)
		}
	}

	dir := filepath.Join(t.TempDir(), "db")
	db := open(t, dir, &bitcask.Options{ExpectedKeys: 2 * n})
	for i := 0; i < n; i++ {
		mustPut(t, db, key(i), val(i))
	}
	check(db, "after the puts")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []*bitcask.Options{{ExpectedKeys: 100}, nil} {
		db = open(t, dir, opts)
		check(db, fmt.Sprintf("reopened with %+v", opts))
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}

	// An expectation smaller than what is written: the index grows as usual.
	db, _ = openTemp(t, &bitcask.Options{ExpectedKeys: 10})
	for i := 0; i < n; i++ {
		mustPut(t, db, key(i), val(i))
	}
	check(db, "ExpectedKeys 10")

	_, err := bitcask.Open(filepath.Join(t.TempDir(), "db"), &bitcask.Options{ExpectedKeys: 1<<32 + 1})
	e := wantCode(t, err, bitcask.ErrInvalid, "expected_keys")
	t.Logf("ExpectedKeys 1<<32+1: %v", e)
}

func TestStatsCountAMergeWhoseOutputIsMissing(t *testing.T) {
	db, dir := openTemp(t, nil)
	mustPut(t, db, "a", "1")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// A version-2 merge record (docs/FORMAT.md): merge 9 of file 1 into file 9, which is absent.
	rec := []byte("BCMERGE2")
	for _, v := range []uint32{9, 1, 1, 1, 9} {
		rec = binary.LittleEndian.AppendUint32(rec, v)
	}
	rec = binary.LittleEndian.AppendUint64(rec, 4096)
	rec = binary.LittleEndian.AppendUint32(rec, crc32.ChecksumIEEE(rec))
	if err := os.WriteFile(filepath.Join(dir, "MERGED-9"), rec, 0o644); err != nil {
		t.Fatal(err)
	}
	db = open(t, dir, nil)
	defer db.Close()
	if got := mustGet(t, db, "a"); got != "1" {
		t.Fatalf("a = %q", got)
	}
	st, err := db.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.IncompleteMerges != 1 {
		t.Fatalf("IncompleteMerges = %d, want 1", st.IncompleteMerges)
	}
}
