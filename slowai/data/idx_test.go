package data

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestIDXRoundTrip(t *testing.T) {
	x := &IDX{Type: IDXUint8, Dims: []int{3, 2, 4}, Data: make([]byte, 24)}
	for i := range x.Data {
		x.Data[i] = byte(7 * i)
	}
	x16 := &IDX{Type: IDXInt16, Dims: []int{5}, Data: make([]byte, 10)}
	for _, c := range []struct {
		x  *IDX
		gz bool
	}{{x, false}, {x, true}, {x16, false}} {
		path := filepath.Join(t.TempDir(), "a.idx")
		if err := WriteIDX(path, c.x, c.gz); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(path)
		if isGz := raw[0] == 0x1f && raw[1] == 0x8b; isGz != c.gz {
			t.Errorf("gz=%v but file starts % x", c.gz, raw[:2])
		}
		got, err := ReadIDX(path)
		if err != nil {
			t.Fatal(err)
		}
		if got.Type != c.x.Type || !slices.Equal(got.Dims, c.x.Dims) || !bytes.Equal(got.Data, c.x.Data) {
			t.Errorf("gz=%v: read back %x %v, want %x %v", c.gz, got.Type, got.Dims, c.x.Type, c.x.Dims)
		}
		if got.Size() != c.x.Size() {
			t.Errorf("Size %d, want %d", got.Size(), c.x.Size())
		}
	}
}

func TestIDXHeaderBytes(t *testing.T) {
	// The layout by hand: magic 00 00 08 02, then big-endian dims 2 and 3, then 6 bytes.
	b := []byte{0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6}
	x, err := DecodeIDX(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(x.Dims, []int{2, 3}) || !bytes.Equal(x.Data, b[12:]) {
		t.Errorf("got dims %v data %v", x.Dims, x.Data)
	}
}

func TestIDXCorrupt(t *testing.T) {
	good := []byte{0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(good)
	zw.Close()
	truncGz := gz.Bytes()[:gz.Len()-6]

	with := func(i int, v byte) []byte { b := slices.Clone(good); b[i] = v; return b }
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"bad magic", with(0, 1), "bad magic"},
		{"bad type", with(2, 7), "bad magic 00 00 07 02"},
		{"rank 0", with(3, 0), "bad magic 00 00 08 00"},
		{"header cut", good[:9], "truncated header: reading dimension 2 of 2"},
		{"huge dims", []byte{0, 0, 8, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "announce more than"},
		{"data short", good[:len(good)-1], "need 6 data bytes, file has 5"},
		{"data long", append(slices.Clone(good), 9), "need 6 data bytes, file has more"},
		{"int32 size", []byte{0, 0, 0x0c, 1, 0, 0, 0, 2, 1, 2, 3, 4}, "need 8 data bytes, file has 4"},
		{"truncated gzip", truncGz, "corrupt gzip"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad-"+strings.ReplaceAll(c.name, " ", "_")+".gz")
			if err := os.WriteFile(path, c.b, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadIDX(path)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q should name %s and say %q", err, path, c.want)
			}
		})
	}
	missing := filepath.Join(t.TempDir(), "nope.idx")
	if _, err := ReadIDX(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: error %v should name it", err)
	}
}
