// Package safetensors reads and writes the safetensors format used by Hugging Face checkpoints:
// an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and byte
// range, then the raw little-endian data.
//
// Reading is lazy: Open parses and validates the header only, and each tensor is read from disk
// when asked for, so a multi-gigabyte checkpoint never sits in memory twice. Half-precision
// tensors (F16, BF16) are widened to float32 on read, since the course computes in float32.
package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/safefile"
)

// maxHeader bounds the JSON header so a corrupt length can't make us allocate gigabytes.
const maxHeader = 100 << 20

// dtypeSizes lists the element types this package understands, with their sizes in bytes.
var dtypeSizes = map[string]int{
	"F64": 8, "F32": 4, "F16": 2, "BF16": 2,
	"I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
}

// Info describes one stored tensor.
type Info struct {
	Name  string
	DType string
	Shape []int
	begin int64 // absolute file offsets
	end   int64
}

// Size is the number of elements.
func (i Info) Size() int {
	n := 1
	for _, d := range i.Shape {
		n *= d
	}
	return n
}

// File is an open safetensors file. Close it when done.
type File struct {
	Path     string
	Metadata map[string]string
	infos    map[string]Info
	names    []string
	f        *os.File
}

// Open reads and checks the header of the file at path. Every error names the file.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("safetensors %s: %w", path, err)
	}
	file, err := parseHeader(path, f, st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	file.f = f
	return file, nil
}

func parseHeader(path string, r io.ReaderAt, fileSize int64) (*File, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("safetensors %s: %s", path, fmt.Sprintf(format, args...))
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, bad("file too short for the 8-byte header length (%d bytes)", fileSize)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > maxHeader || int64(n) > fileSize-8 {
		return nil, bad("header length %d does not fit in a file of %d bytes (truncated or not a safetensors file?)", n, fileSize)
	}
	hdr := make([]byte, n)
	if _, err := r.ReadAt(hdr, 8); err != nil {
		return nil, bad("reading header: %v", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &raw); err != nil {
		return nil, bad("header is not valid JSON: %v", err)
	}
	dataStart := int64(8 + n)
	file := &File{Path: path, infos: map[string]Info{}}
	type entry struct {
		DType   string  `json:"dtype"`
		Shape   []int   `json:"shape"`
		Offsets []int64 `json:"data_offsets"`
	}
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &file.Metadata); err != nil {
				return nil, bad("__metadata__ must map strings to strings: %v", err)
			}
			continue
		}
		var e entry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, bad("tensor %q: bad header entry: %v", name, err)
		}
		size, ok := dtypeSizes[e.DType]
		if !ok {
			return nil, bad("tensor %q: unsupported dtype %q", name, e.DType)
		}
		if len(e.Offsets) != 2 {
			return nil, bad("tensor %q: data_offsets must have 2 entries, got %d", name, len(e.Offsets))
		}
		nbytes, ok := byteCount(e.Shape, size)
		if !ok {
			return nil, bad("tensor %q: shape %v of %s: negative dimension or more bytes than an int64 can count", name, e.Shape, e.DType)
		}
		begin, end := e.Offsets[0], e.Offsets[1]
		if begin < 0 || end < begin || end-begin != nbytes {
			return nil, bad("tensor %q: data_offsets %v hold %d bytes, but %s%v needs %d",
				name, e.Offsets, end-begin, e.DType, e.Shape, nbytes)
		}
		if end > fileSize-dataStart {
			return nil, bad("tensor %q: data ends at byte %d but the file has %d bytes (truncated?)",
				name, dataStart+end, fileSize)
		}
		file.infos[name] = Info{Name: name, DType: e.DType, Shape: e.Shape, begin: dataStart + begin, end: dataStart + end}
		file.names = append(file.names, name)
	}
	sort.Strings(file.names)
	if err := checkTiling(file.infos, dataStart, fileSize-dataStart); err != nil {
		return nil, bad("%v", err)
	}
	return file, nil
}

// byteCount is the number of bytes of a tensor of the given shape and element size, or false
// when a dimension is negative or the count overflows int64 (a corrupt or hostile header).
func byteCount(shape []int, elemSize int) (int64, bool) {
	n := int64(elemSize)
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d != 0 && n > math.MaxInt64/int64(d) {
			return 0, false
		}
		n *= int64(d)
	}
	return n, true
}

// checkTiling requires the tensors' byte ranges to cover the data section exactly, in order,
// with no gap, no overlap and nothing after the last one, as the reference implementation
// does: overlapping ranges would hand one tensor another's bytes. Offsets in messages are
// relative to the data section, as in the header's data_offsets.
func checkTiling(infos map[string]Info, dataStart, dataLen int64) error {
	byStart := make([]Info, 0, len(infos))
	for _, i := range infos {
		byStart = append(byStart, i)
	}
	sort.Slice(byStart, func(a, b int) bool {
		if byStart[a].begin != byStart[b].begin {
			return byStart[a].begin < byStart[b].begin
		}
		return byStart[a].end < byStart[b].end
	})
	at := int64(0) // where the next tensor must start
	for k, i := range byStart {
		begin, end := i.begin-dataStart, i.end-dataStart
		switch {
		case begin < at:
			p := byStart[k-1]
			return fmt.Errorf("tensor %q (data_offsets [%d %d]) overlaps tensor %q (data_offsets [%d %d])",
				i.Name, begin, end, p.Name, p.begin-dataStart, p.end-dataStart)
		case begin > at && k == 0:
			return fmt.Errorf("tensor %q starts at data offset %d; the first tensor must start at 0", i.Name, begin)
		case begin > at:
			return fmt.Errorf("%d unused bytes between tensor %q (ends at data offset %d) and tensor %q (starts at %d)",
				begin-at, byStart[k-1].Name, at, i.Name, begin)
		}
		at = end
	}
	if at != dataLen {
		return fmt.Errorf("the tensors hold %d bytes of data but the file has %d after the header (%d bytes belong to no tensor)",
			at, dataLen, dataLen-at)
	}
	return nil
}

// Close releases the file.
func (f *File) Close() error {
	if f.f == nil {
		return nil
	}
	err := f.f.Close()
	f.f = nil
	return err
}

// Names lists the tensors in sorted order.
func (f *File) Names() []string { return f.names }

// Info returns the description of the named tensor.
func (f *File) Info(name string) (Info, bool) {
	i, ok := f.infos[name]
	return i, ok
}

// Raw returns the named tensor's bytes as stored.
func (f *File) Raw(name string) (Info, []byte, error) {
	info, ok := f.infos[name]
	if !ok {
		return info, nil, fmt.Errorf("safetensors %s: no tensor %q", f.Path, name)
	}
	buf := make([]byte, info.end-info.begin)
	if _, err := f.f.ReadAt(buf, info.begin); err != nil {
		return info, nil, fmt.Errorf("safetensors %s: tensor %q: %w", f.Path, name, err)
	}
	return info, buf, nil
}

// Float32 reads a floating-point tensor (F64, F32, F16 or BF16) as float32, with its shape.
func (f *File) Float32(name string) ([]float32, []int, error) {
	info, ok := f.infos[name]
	if !ok {
		return nil, nil, fmt.Errorf("safetensors %s: no tensor %q", f.Path, name)
	}
	out := make([]float32, info.Size())
	if err := f.Float32Into(name, out); err != nil {
		return nil, nil, err
	}
	return out, info.Shape, nil
}

// FiniteFloat32 reads a floating-point tensor like Float32 and refuses it if any value is NaN or
// infinite: checkpoint loaders use it so that a damaged file, or one saved after training
// diverged, is caught at load time, naming the file and the tensor, instead of surfacing later
// as a NaN loss blamed on the learning rate.
func (f *File) FiniteFloat32(name string) ([]float32, []int, error) {
	v, shape, err := f.Float32(name)
	if err != nil {
		return nil, nil, err
	}
	if err := CheckFinite(v); err != nil {
		return nil, nil, fmt.Errorf("safetensors %s: tensor %q %v: %w", f.Path, name, shape, err)
	}
	return v, shape, nil
}

// CheckFinite returns an error describing the first NaN or infinity in v, and how many there are.
func CheckFinite(v []float32) error {
	first, n := -1, 0
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d values are not finite (the first, at index %d, is %v)", n, len(v), first, v[first])
}

// Float32Into reads a floating-point tensor (F64, F32, F16 or BF16) as float32 into dst, which
// must hold exactly its number of elements: it lets callers decode straight into memory they own
// (a backend's buffer) instead of holding a second copy.
func (f *File) Float32Into(name string, dst []float32) error {
	info, buf, err := f.Raw(name)
	if err != nil {
		return err
	}
	if len(dst) != info.Size() {
		return fmt.Errorf("safetensors %s: tensor %q has %d elements %v, destination holds %d", f.Path, name, info.Size(), info.Shape, len(dst))
	}
	switch info.DType {
	case "F32":
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
		}
	case "F64":
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(buf[8*i:])))
		}
	case "F16":
		for i := range dst {
			dst[i] = HalfToFloat32(binary.LittleEndian.Uint16(buf[2*i:]))
		}
	case "BF16":
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(buf[2*i:])) << 16)
		}
	default:
		return fmt.Errorf("safetensors %s: tensor %q is %s, expected a float type", f.Path, name, info.DType)
	}
	return nil
}

// Float64 reads a floating-point tensor as float64 (exactly, for F64 data).
func (f *File) Float64(name string) ([]float64, []int, error) {
	info, buf, err := f.Raw(name)
	if err != nil {
		return nil, nil, err
	}
	if info.DType == "F64" {
		out := make([]float64, info.Size())
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(buf[8*i:]))
		}
		return out, info.Shape, nil
	}
	f32, shape, err := f.Float32(name)
	if err != nil {
		return nil, nil, err
	}
	out := make([]float64, len(f32))
	for i, v := range f32 {
		out[i] = float64(v)
	}
	return out, shape, nil
}

// Int64 reads an integer or bool tensor as int64.
func (f *File) Int64(name string) ([]int64, []int, error) {
	info, buf, err := f.Raw(name)
	if err != nil {
		return nil, nil, err
	}
	out := make([]int64, info.Size())
	for i := range out {
		switch info.DType {
		case "I64":
			out[i] = int64(binary.LittleEndian.Uint64(buf[8*i:]))
		case "I32":
			out[i] = int64(int32(binary.LittleEndian.Uint32(buf[4*i:])))
		case "I16":
			out[i] = int64(int16(binary.LittleEndian.Uint16(buf[2*i:])))
		case "I8":
			out[i] = int64(int8(buf[i]))
		case "U8", "BOOL":
			out[i] = int64(buf[i])
		default:
			return nil, nil, fmt.Errorf("safetensors %s: tensor %q is %s, expected an integer type", f.Path, name, info.DType)
		}
	}
	return out, info.Shape, nil
}

// Tensor reads the named tensor as a GoMLX tensor: float types become float32, integer types int64.
func (f *File) Tensor(name string) (*tensors.Tensor, error) {
	info, ok := f.infos[name]
	if !ok {
		return nil, fmt.Errorf("safetensors %s: no tensor %q", f.Path, name)
	}
	switch info.DType {
	case "F64", "F32", "F16", "BF16":
		data, shape, err := f.Float32(name)
		if err != nil {
			return nil, err
		}
		return tensors.FromFlatDataAndDimensions(data, shape...), nil
	default:
		data, shape, err := f.Int64(name)
		if err != nil {
			return nil, err
		}
		return tensors.FromFlatDataAndDimensions(data, shape...), nil
	}
}

// HalfToFloat32 widens an IEEE 754 half-precision value.
func HalfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: value = mant * 2^-24.
		v := float32(mant) * float32(1.0/16777216.0)
		if sign != 0 {
			v = -v
		}
		return v
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	}
}

// Array is one tensor to write.
type Array struct {
	Name  string
	DType string
	Shape []int
	Data  []byte // little-endian, C order
}

// F32 makes an Array from float32 values.
func F32(name string, shape []int, v []float32) Array {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return Array{Name: name, DType: "F32", Shape: shape, Data: b}
}

// I64 makes an Array from int64 values.
func I64(name string, shape []int, v []int64) Array {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return Array{Name: name, DType: "I64", Shape: shape, Data: b}
}

// Save writes arrays (laid out in name order) and metadata to path, through a temporary file
// renamed into place, so a crash never leaves a half-written checkpoint under the real name.
func Save(path string, arrays []Array, metadata map[string]string) error {
	sorted := append([]Array(nil), arrays...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var offset int64
	for _, a := range sorted {
		size, ok := dtypeSizes[a.DType]
		if !ok {
			return fmt.Errorf("safetensors: saving %s: tensor %q has unsupported dtype %q", path, a.Name, a.DType)
		}
		count := 1
		for _, d := range a.Shape {
			count *= d
		}
		if len(a.Data) != count*size {
			return fmt.Errorf("safetensors: saving %s: tensor %q has %d bytes, shape %v of %s needs %d",
				path, a.Name, len(a.Data), a.Shape, a.DType, count*size)
		}
		if _, dup := header[a.Name]; dup || a.Name == "" || strings.HasPrefix(a.Name, "__") {
			return fmt.Errorf("safetensors: saving %s: bad or repeated tensor name %q", path, a.Name)
		}
		shape := a.Shape
		if shape == nil {
			shape = []int{}
		}
		header[a.Name] = map[string]any{"dtype": a.DType, "shape": shape, "data_offsets": []int64{offset, offset + int64(len(a.Data))}}
		offset += int64(len(a.Data))
	}
	hdr, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("safetensors: saving %s: %w", path, err)
	}
	for len(hdr)%8 != 0 {
		hdr = append(hdr, ' ')
	}
	tmp, err := safefile.Create(path)
	if err != nil {
		return fmt.Errorf("safetensors: saving %s: %w", path, err)
	}
	defer tmp.Abort() // no-op after a successful Commit
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hdr)))
	werr := func() error {
		if _, err := tmp.Write(lenBuf[:]); err != nil {
			return err
		}
		if _, err := tmp.Write(hdr); err != nil {
			return err
		}
		for _, a := range sorted {
			if _, err := tmp.Write(a.Data); err != nil {
				return err
			}
		}
		return tmp.Commit()
	}()
	if werr != nil {
		return fmt.Errorf("safetensors: saving %s: %w", path, werr)
	}
	return nil
}
