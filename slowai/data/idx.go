package data

import (
	"bufio"
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

// ReadIDX reads an IDX file, gzip-compressed or raw (told apart by the gzip magic bytes
// 1f 8b), streaming it through DecodeIDX, which checks it all: magic, element type, rank,
// dimensions and that the data is exactly as long as the dimensions say. Every error names
// the file.
func ReadIDX(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: reading IDX file: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	var r io.Reader = br
	gz := &gzipErrors{}
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		if gz.r, err = gzip.NewReader(br); err != nil {
			return nil, fmt.Errorf("data: IDX file %s: corrupt gzip stream: %w", path, err)
		}
		r = gz
	}
	x, err := DecodeIDX(r)
	if gz.err != nil {
		return nil, fmt.Errorf("data: IDX file %s: corrupt gzip stream: %w", path, gz.err)
	}
	if err != nil {
		return nil, fmt.Errorf("data: IDX file %s: %w", path, err)
	}
	return x, nil
}

// gzipErrors reads from a gzip stream and keeps its first error other than io.EOF, so that
// ReadIDX can blame a damaged compression rather than the IDX layout it was reading.
type gzipErrors struct {
	r   io.Reader
	err error
}

func (g *gzipErrors) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && err != io.EOF && g.err == nil {
		g.err = err
	}
	return n, err
}

// maxIDXBytes bounds the data an IDX header may announce (16 GiB), so that a corrupt header
// is an error rather than an impossible allocation.
const maxIDXBytes = 1 << 34

// DecodeIDX reads one uncompressed IDX array from r, front to back: the magic number
// 00 00 <type> <rank>, rank dimensions as big-endian uint32s, then exactly as many data
// bytes as the dimensions and the element size multiply to, and nothing after them.
func DecodeIDX(r io.Reader) (*IDX, error) {
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("too short for the magic number 00 00 <type> <rank>: %w", err)
	}
	size, known := idxElemSize[magic[2]]
	if magic[0] != 0 || magic[1] != 0 || !known || magic[3] == 0 {
		return nil, fmt.Errorf("bad magic % x: want 00 00, an element type (08, 09, 0b, 0c, 0d or 0e) and a rank of at least 1", magic)
	}
	x := &IDX{Type: magic[2], Dims: make([]int, magic[3])}
	n := size // data bytes
	for i := range x.Dims {
		var d uint32
		if err := binary.Read(r, binary.BigEndian, &d); err != nil {
			return nil, fmt.Errorf("truncated header: reading dimension %d of %d: %w", i+1, len(x.Dims), err)
		}
		x.Dims[i] = int(d)
		if d > 0 && n > maxIDXBytes/int(d) {
			return nil, fmt.Errorf("dimensions %v announce more than %d data bytes", x.Dims[:i+1], maxIDXBytes)
		}
		n *= int(d)
	}
	body, err := io.ReadAll(io.LimitReader(r, int64(n)+1)) // one byte more, to catch extra data
	if err != nil {
		return nil, fmt.Errorf("reading %d data bytes: %w", n, err)
	}
	if len(body) != n {
		has := fmt.Sprint(len(body))
		if len(body) > n {
			has = "more"
		}
		return nil, fmt.Errorf("dimensions %v of %d-byte elements need %d data bytes, file has %s", x.Dims, size, n, has)
	}
	x.Data = body
	return x, nil
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
