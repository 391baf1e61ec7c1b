package exercises

import "testing"

// TestCheckSkipsTodo runs Check on a body that calls Todo in a subtest and expects it skipped.
func TestCheckSkipsTodo(t *testing.T) {
	if Solved {
		t.Skip("in a solutions build a Todo fails its test, which would fail this one")
	}
	var inner *testing.T
	ok := t.Run("todo", func(t *testing.T) {
		inner = t
		Check(t, "here.go", func(t *testing.T) { Todo() })
	})
	if !ok || !inner.Skipped() {
		t.Fatalf("a Todo was not skipped: ok=%v skipped=%v", ok, inner.Skipped())
	}
}

// TestCheckPassesAnswers runs Check on a body that does not call Todo.
func TestCheckPassesAnswers(t *testing.T) {
	ran := false
	Check(t, "here.go", func(t *testing.T) { ran = true })
	if !ran || t.Skipped() {
		t.Fatal("an answered exercise did not run")
	}
}

func TestClose(t *testing.T) {
	if !Close([]float32{1, 2}, []float32{1.05, 2}, 0.1) || Close([]float32{1, 2}, []float32{1.2, 2}, 0.1) || Close([]float32{1}, []float32{1, 1}, 1) {
		t.Error("Close disagrees with |a-b| <= tol over equal lengths")
	}
}
