// Package exercises is what every lesson's exercise package shares.
//
// Each lesson with exercises has a package slowai/exercises/lessonNN. Its functions are the
// exercises: in exercises.go (build tag !solutions) their bodies call Todo(); a student replaces
// that call with an answer. solutions.go (build tag solutions) holds the reference answers. The
// tests run each exercise through Check, so
//
//	go test ./slowai/exercises/...                  passes answered exercises, fails wrong ones, skips the rest
//	go test -tags solutions ./slowai/exercises/...  proves every exercise can be solved (CI)
package exercises

import (
	"errors"
	"math"
	"testing"
)

// errTodo is what Todo panics with, so Check can tell "not answered yet" from a real failure.
var errTodo = errors.New("exercise not answered yet")

// Todo marks an exercise the student has not written yet. It panics; Check turns that panic
// into a skipped test.
func Todo() {
	panic(errTodo)
}

// Check runs body, a test of one exercise. If the exercise still calls Todo, the test is skipped
// with a note saying where to write the answer; any other panic or failure fails the test.
// Solutions builds (-tags solutions) set Solved, and then a Todo fails the test instead.
func Check(t *testing.T, where string, body func(t *testing.T)) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if err, ok := r.(error); ok && errors.Is(err, errTodo) {
			if Solved {
				t.Fatalf("%s: the reference solution is missing (Todo called in a solutions build)", where)
			}
			t.Skipf("not answered yet: write your answer in %s", where)
		}
		panic(r)
	}()
	body(t)
}

// Close reports whether a and b have the same length and differ by at most tol everywhere:
// how exercise tests compare a student's numbers with the expected ones.
func Close(a, b []float32, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > tol {
			return false
		}
	}
	return true
}
