package learn

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/data"
	"github.com/slowai-go/course/slowai/nn/module"
	"github.com/slowai-go/course/slowai/optim"
)

var testBackend compute.Backend

func engine(t *testing.T) compute.Backend {
	t.Helper()
	if testBackend == nil {
		be, err := backend.New()
		if err != nil {
			t.Fatal(err)
		}
		testBackend = be
	}
	return testBackend
}

// blobs is a 3-class problem on 1x2x2 "images": class k has a bright pixel k (plus noise).
func blobs(t *testing.T, n int, seed uint64) *data.Dataset {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	imgs := make([]float32, n*4)
	labels := make([]int, n)
	for i := range n {
		labels[i] = rng.IntN(3)
		for j := range 4 {
			imgs[i*4+j] = float32(0.3 * rng.NormFloat64())
		}
		imgs[i*4+labels[i]] += 2
	}
	ds, err := data.NewDataset(fmt.Sprintf("blobs%d", seed), 1, 2, 2, imgs, labels, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// linearNet is Flatten then Linear(4 -> 3).
func linearNet() Model {
	s := &module.Specs{}
	seq := &module.Sequential{}
	seq.Add("flatten", module.Flatten).Add("linear", module.NewLinear(s, "linear", 4, 3, true))
	return Net(s, seq)
}

func newLearner(t *testing.T, nTrain, bs int, opt optim.Optimizer, cbs ...Callback) *Learner {
	t.Helper()
	dls, err := data.NewLoaders(blobs(t, nTrain, 1), blobs(t, 30, 2), bs, data.LoaderOptions{Shuffle: true, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(linearNet(), dls, CrossEntropy, opt, Options{Backend: engine(t), Seed: 3}, cbs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// events records the events it sees, and cancels with err at the event named cancelAt.
type events struct {
	name     string
	order    int
	log      *[]string
	cancelAt string
	err      error
}

func (e *events) Order() int { return e.order }
func (e *events) at(l *Learner, ev Event) error {
	tag := ev.String()
	if ev >= BeforeBatch {
		tag += fmt.Sprint(l.Iter)
	}
	if ev >= BeforeEpoch && ev <= CleanupEpoch {
		tag += map[bool]string{true: "T", false: "V"}[l.Training]
	}
	*e.log = append(*e.log, e.name+":"+tag)
	if tag == e.cancelAt {
		return e.err
	}
	return nil
}
func (e *events) BeforeFit(l *Learner) error    { return e.at(l, BeforeFit) }
func (e *events) AfterFit(l *Learner) error     { return e.at(l, AfterFit) }
func (e *events) CleanupFit(l *Learner) error   { return e.at(l, CleanupFit) }
func (e *events) BeforeEpoch(l *Learner) error  { return e.at(l, BeforeEpoch) }
func (e *events) AfterEpoch(l *Learner) error   { return e.at(l, AfterEpoch) }
func (e *events) CleanupEpoch(l *Learner) error { return e.at(l, CleanupEpoch) }
func (e *events) BeforeBatch(l *Learner) error  { return e.at(l, BeforeBatch) }
func (e *events) AfterBatch(l *Learner) error   { return e.at(l, AfterBatch) }
func (e *events) CleanupBatch(l *Learner) error { return e.at(l, CleanupBatch) }

// TestCallbackOrder checks the event sequence of a 1-epoch fit (2 training batches, 1
// validation batch) and that callbacks run by Order, not by position.
func TestCallbackOrder(t *testing.T) {
	var log []string
	late := &events{name: "late", order: 5, log: &log}
	early := &events{name: "early", order: -1, log: &log}
	l := newLearner(t, 20, 10, optim.SGD{LR: 0.1}, late, early)
	l.Data.Valid, _ = data.NewLoader(blobs(t, 8, 2), 10, data.LoaderOptions{})
	if err := l.Fit(1); err != nil {
		t.Fatal(err)
	}
	var earlyOnly []string
	for i := 0; i < len(log); i += 2 {
		if log[i] != "early:"+strings.TrimPrefix(log[i+1], "late:") {
			t.Fatalf("event %d: %q then %q, want early before late for the same event", i, log[i], log[i+1])
		}
		earlyOnly = append(earlyOnly, strings.TrimPrefix(log[i], "early:"))
	}
	want := []string{"BeforeFit", "BeforeEpochT",
		"BeforeBatch0", "AfterBatch0", "CleanupBatch0", "BeforeBatch1", "AfterBatch1", "CleanupBatch1",
		"AfterEpochT", "CleanupEpochT", "BeforeEpochV", "BeforeBatch0", "AfterBatch0", "CleanupBatch0",
		"AfterEpochV", "CleanupEpochV", "AfterFit", "CleanupFit"}
	if !slices.Equal(earlyOnly, want) {
		t.Errorf("events\n%v\nwant\n%v", earlyOnly, want)
	}
	if l.Step != 2 || l.Epoch != 1 {
		t.Errorf("after Fit(1): step %d epoch %d, want 2 and 1", l.Step, l.Epoch)
	}
}

// TestCancel checks what each cancel skips: the rest of its level (and, for a batch, the
// step), never the cleanup, and that Fit returns nil; other errors are returned.
func TestCancel(t *testing.T) {
	cases := []struct {
		at        string
		err       error
		steps     int
		mustHave  []string
		mustLack  []string
		wantError bool
	}{
		{"BeforeBatch0", ErrCancelBatch, 1, []string{"CleanupBatch0", "AfterBatch1", "AfterFit"}, []string{"AfterBatch0"}, false},
		{"AfterBatch0", ErrCancelEpoch, 1, []string{"CleanupEpochT", "BeforeEpochV", "AfterFit"}, []string{"BeforeBatch1", "AfterEpochT"}, false},
		{"BeforeEpochV", ErrCancelEpoch, 2, []string{"CleanupEpochV", "AfterFit"}, []string{"AfterEpochV"}, false},
		{"AfterBatch1", ErrCancelFit, 2, []string{"CleanupBatch1", "CleanupEpochT", "CleanupFit"}, []string{"AfterEpochT", "BeforeEpochV", "AfterFit"}, false},
		{"BeforeBatch1", errors.New("boom"), 1, []string{"CleanupBatch1", "CleanupEpochT", "CleanupFit"}, []string{"AfterFit"}, true},
	}
	for _, c := range cases {
		var log []string
		cb := &events{name: "x", log: &log, cancelAt: c.at, err: c.err}
		l := newLearner(t, 20, 10, optim.SGD{LR: 0.1}, cb)
		err := l.Fit(1)
		if (err != nil) != c.wantError {
			t.Errorf("%s %v: Fit returned %v", c.at, c.err, err)
		}
		seen := map[string]bool{}
		for _, e := range log {
			seen[strings.TrimPrefix(e, "x:")] = true
		}
		for _, e := range c.mustHave {
			if !seen[e] {
				t.Errorf("cancel %v at %s: no %s in %v", c.err, c.at, e, log)
			}
		}
		for _, e := range c.mustLack {
			if seen[e] {
				t.Errorf("cancel %v at %s: %s ran: %v", c.err, c.at, e, log)
			}
		}
		if l.Step != c.steps {
			t.Errorf("cancel %v at %s: %d steps, want %d", c.err, c.at, l.Step, c.steps)
		}
	}
}

// TestSGDStepAndMetrics checks one full-batch SGD step against a float64 computation of the
// cross-entropy gradient, and Metrics' loss and accuracy against a recount.
func TestSGDStepAndMetrics(t *testing.T) {
	m := NewMetrics("accuracy", Metric(Accuracy))
	l := newLearner(t, 12, 12, optim.SGD{LR: 0.5}, m)
	w0, _ := module.Values(l.Vars, "linear.weight")
	b0, _ := module.Values(l.Vars, "linear.bias")
	ds := l.Data.Train.Dataset()
	// Reference: logits, softmax, mean cross-entropy, gradient, one step.
	gw, gb := make([]float64, 12), make([]float64, 3)
	loss, right := 0.0, 0
	for i := range ds.N {
		x := ds.Image(i)
		z := make([]float64, 3)
		for k := range 3 {
			z[k] = float64(b0[k])
			for j := range 4 {
				z[k] += float64(w0[k*4+j]) * float64(x[j])
			}
		}
		mx := math.Max(z[0], math.Max(z[1], z[2]))
		sum := 0.0
		for k := range 3 {
			sum += math.Exp(z[k] - mx)
		}
		best := 0
		for k := range 3 {
			if z[k] > z[best] {
				best = k
			}
			p := math.Exp(z[k]-mx) / sum
			d := p
			if k == ds.Labels[i] {
				d -= 1
				loss -= math.Log(p)
			}
			gb[k] += d / float64(ds.N)
			for j := range 4 {
				gw[k*4+j] += d * float64(x[j]) / float64(ds.N)
			}
		}
		if best == ds.Labels[i] {
			right++
		}
	}
	loss /= float64(ds.N)
	l.Data.Valid = nil
	if err := l.Fit(1); err != nil {
		t.Fatal(err)
	}
	w1, _ := module.Values(l.Vars, "linear.weight")
	for i := range w1 {
		if want := float64(w0[i]) - 0.5*gw[i]; math.Abs(float64(w1[i])-want) > 1e-5 {
			t.Fatalf("weight %d after a step: %v, want %v", i, w1[i], want)
		}
	}
	log, ok := m.Last(true)
	if !ok || math.Abs(log.Loss-loss) > 1e-5 || math.Abs(log.Metrics["accuracy"]-float64(right)/12) > 1e-9 {
		t.Errorf("metrics %+v, want loss %v accuracy %v", log, loss, float64(right)/12)
	}
}

// TestResumeBitIdentical interrupts a run (with a random transform, shuffling, Adam, a
// schedule and EMA) part-way through an epoch, resumes it in a new Learner from the checkpoint,
// and expects exactly the weights, optimizer state and losses of the uninterrupted run.
func TestResumeBitIdentical(t *testing.T) {
	mk := func(cbs ...Callback) (*Learner, *Recorder) {
		dls, err := data.NewLoaders(blobs(t, 50, 1), blobs(t, 20, 2), 8,
			data.LoaderOptions{Shuffle: true, Seed: 9, Transforms: []data.Transform{data.RandomFlip(0.5)}})
		if err != nil {
			t.Fatal(err)
		}
		rec := &Recorder{}
		sched := Schedule{LR: optim.Cosine(0.05, 0.001, 21)}
		l, err := New(linearNet(), dls, CrossEntropy, optim.AdamW(0.05, 0.01),
			Options{Backend: engine(t), Seed: 3, EMA: 0.9}, append([]Callback{rec, sched}, cbs...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		return l, rec
	}
	full, fullRec := mk()
	if err := full.Fit(3); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ck.safetensors")
	part, _ := mk(Checkpoint{Path: path, Every: 10}, StopAfter{Steps: 10})
	if err := part.Fit(3); err != nil {
		t.Fatal(err)
	}
	resumed, resRec := mk()
	if err := resumed.Load(path); err != nil {
		t.Fatal(err)
	}
	if resumed.Step != 10 || resumed.Epoch != 1 {
		t.Fatalf("restored at step %d epoch %d, want 10 and 1 (7 batches an epoch)", resumed.Step, resumed.Epoch)
	}
	if err := resumed.Fit(2); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fullRec.Losses, resRec.Losses) {
		t.Errorf("losses differ:\nfull    %v\nresumed %v", fullRec.Losses, resRec.Losses)
	}
	for v := range full.Vars.Store.IterVariables() {
		a, _ := v.Value()
		b, _ := resumed.Vars.Store.GetVariable(v.Path()).Value()
		if !slices.Equal(tensors.MustCopyFlatData[float32](a), tensors.MustCopyFlatData[float32](b)) {
			t.Errorf("%s differs after resuming", v.Path())
		}
	}
}

// TestLRFinder checks that the finder multiplies the rate by 1.3 per batch, stops once the loss
// passes 3x its minimum, and leaves the Learner as it found it.
func TestLRFinder(t *testing.T) {
	l := newLearner(t, 400, 4, optim.SGD{LR: 0.1})
	before, _ := module.Values(l.Vars, "linear.weight")
	f, err := LRFind(l, 1e-4)
	if err != nil {
		t.Fatal(err)
	}
	n := len(f.Losses)
	if n < 10 || n >= 100 {
		t.Fatalf("finder ran %d batches, expected it to stop on a rising loss well before the data ran out", n)
	}
	for i := 1; i < n; i++ {
		if math.Abs(f.LRs[i]/f.LRs[i-1]-1.3) > 1e-9 {
			t.Fatalf("lr %d/%d ratio %v", i, i-1, f.LRs[i]/f.LRs[i-1])
		}
	}
	// Every loss before the last stayed within 3x the minimum so far; the last did not.
	lo := math.Inf(1)
	for i, loss := range f.Losses {
		lo = min(lo, loss)
		if stop := loss > 3*lo || math.IsNaN(loss); stop != (i == n-1) {
			t.Fatalf("batch %d: loss %v, minimum so far %v, stop %v", i, loss, lo, stop)
		}
	}
	after, _ := module.Values(l.Vars, "linear.weight")
	if !slices.Equal(before, after) || l.Step != 0 || l.Epoch != 0 {
		t.Errorf("LRFind did not restore the learner: step %d epoch %d", l.Step, l.Epoch)
	}
}

// TestOneCycleThroughLearner checks that the recorded rates and momenta of a fit are the
// one-cycle schedule's, step by step.
func TestOneCycleThroughLearner(t *testing.T) {
	rec := &Recorder{}
	l := newLearner(t, 40, 8, optim.AdamW(0.01, 0), rec)
	sched := OneCycle(l, 0.02, 2)
	if err := l.Fit(2, sched); err != nil {
		t.Fatal(err)
	}
	if len(rec.LRs) != 10 {
		t.Fatalf("%d steps recorded, want 10", len(rec.LRs))
	}
	for i := range rec.LRs {
		if rec.LRs[i] != sched.LR(i+1) || rec.Moms[i] != sched.Mom(i+1) {
			t.Errorf("step %d: lr %v mom %v, want %v %v", i+1, rec.LRs[i], rec.Moms[i], sched.LR(i+1), sched.Mom(i+1))
		}
	}
	if peak := slices.Index(rec.LRs, slices.Max(rec.LRs)); peak != 2 || rec.Moms[peak] != slices.Min(rec.Moms) {
		t.Errorf("peak lr at step %d (momentum %v), want step 3 at the lowest momentum", peak+1, rec.Moms[peak])
	}
}

// TestActivationStats checks the statistics of the first tap (the flattened input, so the
// dataset's own pixels when one batch holds them all in order) against a host recount.
func TestActivationStats(t *testing.T) {
	ds := blobs(t, 24, 1)
	dl, err := data.NewLoader(ds, 24, data.LoaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stats := &ActivationStats{}
	l, err := New(linearNet(), data.Loaders{Train: dl}, CrossEntropy, optim.SGD{LR: 0.1}, Options{Backend: engine(t)}, stats)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Fit(2); err != nil {
		t.Fatal(err)
	}
	if len(stats.Layers) != 2 || stats.Layers[0].Name != "flatten" || len(stats.Layers[1].Means) != 2 {
		t.Fatalf("layers %+v", stats.Layers)
	}
	mean, sq := 0.0, 0.0
	hist := make([]float64, HistBins)
	for _, v := range ds.Images {
		mean += float64(v)
		k := min(HistBins-1, int(math.Abs(float64(v))/(HistMax/HistBins)))
		hist[k]++
	}
	mean /= float64(len(ds.Images))
	for _, v := range ds.Images {
		sq += (float64(v) - mean) * (float64(v) - mean)
	}
	std := math.Sqrt(sq / float64(len(ds.Images)))
	s := stats.Layers[0]
	if math.Abs(s.Means[0]-mean) > 1e-5 || math.Abs(s.Stds[0]-std) > 1e-5 || !slices.Equal(s.Hists[0], hist) {
		t.Errorf("input stats mean %v std %v hist %v, want %v %v %v", s.Means[0], s.Stds[0], s.Hists[0], mean, std, hist)
	}
	near := (hist[0] + hist[1]) / float64(len(ds.Images))
	if got := s.NearZero()[0]; math.Abs(got-near) > 1e-12 {
		t.Errorf("NearZero %v, want %v", got, near)
	}
	if _, err := s.ColorDim(); err != nil {
		t.Error(err)
	}
}

func TestRecorderSaveLoad(t *testing.T) {
	r := &Recorder{LRs: []float64{0.1, 0.2}, Moms: []float64{0.9, 0.8}, Losses: []float64{2, 1.5}}
	path := filepath.Join(t.TempDir(), "rec.json")
	if err := r.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadRecorder(path)
	if err != nil || !slices.Equal(got.LRs, r.LRs) || !slices.Equal(got.Losses, r.Losses) || !slices.Equal(got.Moms, r.Moms) {
		t.Fatalf("loaded %+v, %v", got, err)
	}
	if _, err := LoadRecorder(filepath.Join(t.TempDir(), "none.json")); err == nil || !strings.Contains(err.Error(), "none.json") {
		t.Errorf("missing file: %v", err)
	}
}

// wrongSig has an AfterBatch that is not func(*Learner) error.
type wrongSig struct{}

func (wrongSig) AfterBatch(l *Learner) {}

func TestCallbackWithWrongSignature(t *testing.T) {
	l := newLearner(t, 20, 10, optim.SGD{LR: 0.1}, wrongSig{})
	err := l.Fit(1)
	if err == nil || !strings.Contains(err.Error(), "wrongSig") || !strings.Contains(err.Error(), "AfterBatch") {
		t.Fatalf("Fit with a misdeclared callback method: %v", err)
	}
}

// TestStopAt: a deadline already past stops the fit after its first training step, without error;
// one in the future lets every step run.
func TestStopAt(t *testing.T) {
	past := newLearner(t, 40, 8, optim.SGD{LR: 0.1}, StopAt(time.Now().Add(-time.Second)))
	if err := past.Fit(2); err != nil {
		t.Fatal(err)
	}
	if past.Step != 1 {
		t.Errorf("past deadline: %d steps, want 1", past.Step)
	}
	future := newLearner(t, 40, 8, optim.SGD{LR: 0.1}, StopAt(time.Now().Add(time.Hour)))
	if err := future.Fit(2); err != nil {
		t.Fatal(err)
	}
	if future.Step != 10 {
		t.Errorf("future deadline: %d steps, want 10 (2 epochs of 5 batches)", future.Step)
	}
}
