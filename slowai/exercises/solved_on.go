//go:build solutions

package exercises

// Solved is true in builds with the solutions tag, where every exercise must be answered.
const Solved = true
