// Package rng is a pseudo-random generator written from scratch, Wichmann–Hill (1982), so
// lesson 01 can show that "random" numbers are a deterministic sequence fixed by a seed, and
// what goes wrong when several goroutines share one sequence.
package rng

// The three multiplicative generators' moduli (primes) and multipliers.
const (
	m1, m2, m3 = 30269, 30307, 30323
	a1, a2, a3 = 171, 172, 170
)

// WichmannHill holds the state: three small integers, each in [1, modulus).
type WichmannHill struct {
	S1, S2, S3 int
}

// New seeds a generator the way Python 2's random.WichmannHill did: the seed is cut into
// three remainders, each shifted by one so no state is 0 (a 0 would stay 0 forever).
func New(seed uint64) *WichmannHill {
	s := seed
	s1 := int(s % (m1 - 1))
	s /= m1 - 1
	s2 := int(s % (m2 - 1))
	s /= m2 - 1
	s3 := int(s % (m3 - 1))
	return &WichmannHill{S1: s1 + 1, S2: s2 + 1, S3: s3 + 1}
}

// Float64 advances the three generators one step each and returns the fractional part of
// the sum of their values scaled to [0, 1): the sum of three uniform-ish numbers, wrapped
// around, is much more uniform than any one of them, and the combined period is about 7e12.
func (g *WichmannHill) Float64() float64 {
	g.S1 = a1 * g.S1 % m1
	g.S2 = a2 * g.S2 % m2
	g.S3 = a3 * g.S3 % m3
	r := float64(g.S1)/m1 + float64(g.S2)/m2 + float64(g.S3)/m3
	return r - float64(int(r))
}

// Intn returns a number in [0, n), for dice and shuffles.
func (g *WichmannHill) Intn(n int) int {
	if n <= 0 {
		panic("rng: Intn needs n > 0")
	}
	return int(g.Float64() * float64(n))
}
