package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/slowai-go/course/slowai/safefile"
)

// IDX element types, from the format's description on the MNIST page: the third magic byte.
const (
	IDXUint8   byte = 0x08
	IDXInt8    byte = 0x09
	IDXInt16   byte = 0x0B
	IDXInt32   byte = 0x0C
	IDXFloat32 byte = 0x0D
	IDXFloat64 byte = 0x0E
)

// idxElemSize maps an IDX element type to its size in bytes.
var idxElemSize = map[byte]int{
	IDXUint8: 1, IDXInt8: 1, IDXInt16: 2, IDXInt32: 4, IDXFloat32: 4, IDXFloat64: 8,
}

// IDX is one parsed IDX file: the simple n-dimensional array format MNIST ships in.
// Data holds the elements exactly as stored (big-endian for multi-byte types), so the
// common uint8 case needs no copy or conversion.
type IDX struct {
	Type byte  // element type, one of the IDX* constants
	Dims []int // e.g. [60000 28 28] for MNIST training images
	Data []byte
}

// Size is the number of elements, the product of Dims.
func (x *IDX) Size() int {
	n := 1
	for _, d := range x.Dims {
		n *= d
	}
	return n
}

// ReadIDX reads an IDX file, gzip-compressed or raw (told apart by the gzip magic bytes),
// and checks it all: magic, element type, rank, dimensions and that the data is exactly as
// long as the dimensions say. Every error names the file.
func ReadIDX(path string) (*IDX, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data: reading IDX file: %w", err)
	}
	if len(raw) >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		raw, err = gunzip(raw)
		if err != nil {
			return nil, fmt.Errorf("data: IDX file %s: corrupt gzip stream: %w", path, err)
		}
	}
	x, err := ParseIDX(raw)
	if err != nil {
		return nil, fmt.Errorf("data: IDX file %s: %w", path, err)
	}
	return x, nil
}

// gunzip decompresses a whole gzip stream, sizing the buffer from the trailer's length
// field so that the 47 MB MNIST images file is not grown by repeated doubling.
func gunzip(raw []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	var buf bytes.Buffer
	if len(raw) >= 4 {
		// ISIZE is the uncompressed length mod 2^32; only a hint, capped to stay sane.
		if hint := int(binary.LittleEndian.Uint32(raw[len(raw)-4:])); hint > 0 && hint < 1<<30 {
			buf.Grow(hint + bytes.MinRead)
		}
	}
	if _, err := io.Copy(&buf, zr); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ParseIDX parses the bytes of an uncompressed IDX file. Data aliases b.
func ParseIDX(b []byte) (*IDX, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("too short for an IDX header: %d bytes, want at least 4", len(b))
	}
	if b[0] != 0 || b[1] != 0 {
		return nil, fmt.Errorf("bad magic % x: want 00 00 <type> <rank>", b[:4])
	}
	typ, rank := b[2], int(b[3])
	size, ok := idxElemSize[typ]
	if !ok {
		return nil, fmt.Errorf("bad magic % x: unknown element type 0x%02x (want 08, 09, 0b, 0c, 0d or 0e)", b[:4], typ)
	}
	if rank == 0 {
		return nil, fmt.Errorf("bad magic % x: rank 0, want at least 1", b[:4])
	}
	header := 4 + 4*rank
	if len(b) < header {
		return nil, fmt.Errorf("truncated header: rank %d needs %d bytes, file has %d", rank, header, len(b))
	}
	dims := make([]int, rank)
	total := size
	for i := range dims {
		d := binary.BigEndian.Uint32(b[4+4*i:])
		if d > 1<<31-1 {
			return nil, fmt.Errorf("dimension %d is %d: too large", i, d)
		}
		dims[i] = int(d)
		if total != 0 && dims[i] > (1<<62)/total {
			return nil, fmt.Errorf("dimensions %v overflow", dims[:i+1])
		}
		total *= dims[i]
	}
	if got := len(b) - header; got != total {
		return nil, fmt.Errorf("dimensions %v of %d-byte elements need %d data bytes, file has %d",
			dims, size, total, got)
	}
	return &IDX{Type: typ, Dims: dims, Data: b[header:]}, nil
}

// WriteIDX writes x to path as raw IDX, or gzip-compressed when gz is true, through a
// temporary file and a rename so a crash never leaves half a file under the real name.
// Tests use it to make fixtures; it is also handy for saving small data sets.
func WriteIDX(path string, x *IDX, gz bool) error {
	size, ok := idxElemSize[x.Type]
	if !ok {
		return fmt.Errorf("data: WriteIDX %s: unknown element type 0x%02x", path, x.Type)
	}
	if len(x.Dims) == 0 || len(x.Dims) > 255 {
		return fmt.Errorf("data: WriteIDX %s: rank %d, want 1..255", path, len(x.Dims))
	}
	if x.Size()*size != len(x.Data) {
		return fmt.Errorf("data: WriteIDX %s: dims %v need %d bytes, Data has %d", path, x.Dims, x.Size()*size, len(x.Data))
	}
	var buf bytes.Buffer
	buf.Write([]byte{0, 0, x.Type, byte(len(x.Dims))})
	for _, d := range x.Dims {
		_ = binary.Write(&buf, binary.BigEndian, uint32(d))
	}
	buf.Write(x.Data)
	out := buf.Bytes()
	if gz {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		zw.Write(out)
		if err := zw.Close(); err != nil {
			return fmt.Errorf("data: WriteIDX %s: %w", path, err)
		}
		out = zb.Bytes()
	}
	if err := safefile.Write(path, out); err != nil {
		return fmt.Errorf("data: writing %s: %w", path, err)
	}
	return nil
}
