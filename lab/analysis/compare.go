package analysis

import (
	"math"
	"slices"
)

// Alpha is the significance level of a comparison between two runs, as
// benchstat's default: a change is called only when a rank test puts the
// chance of the trials falling this way by luck alone under 5%.
const Alpha = 0.05

// exactLimit is the most assignments of ranks the exact test enumerates
// (C(16, 8) = 12,870); past it the normal approximation is as good.
const exactLimit = 20000

// Sample is a figure's value in each trial of one run.
type Sample []float64

// Spread is a sample's median and range.
type Spread struct {
	Center, Lo, Hi float64
	N              int
}

// SpreadOf is the median of v with its range.
func SpreadOf(v []float64) Spread {
	if len(v) == 0 {
		return Spread{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return Spread{Center: Median(s), Lo: s[0], Hi: s[len(s)-1], N: len(s)}
}

// MannWhitney is the two-sided p-value of the Mann–Whitney U test that a
// and b come from one distribution: the share of all ways of splitting
// the pooled ranks into groups of len(a) and len(b) whose U is at least as
// far from its mean as the observed one. Exact (ties given mid-ranks, so
// ties are exact too) while the ways are few enough to count, else the
// normal approximation with the tie correction. It assumes nothing about
// the shape of the distributions, which is why benchstat uses it for the
// few, skewed samples a benchmark gives. 1 when either side is empty.
func MannWhitney(a, b []float64) float64 {
	m, n := len(a), len(b)
	if m == 0 || n == 0 {
		return 1
	}
	ranks := midRanks(a, b)
	observed := rankSum(ranks[:m])
	// U = R_a - m(m+1)/2, so |U - mn/2| orders the splits as |R - m(N+1)/2| does.
	mean := float64(m) * float64(m+n+1) / 2
	dev := math.Abs(observed - mean)
	if binomial(m+n, m) <= exactLimit {
		extreme, total := 0, 0
		combinations(m+n, m, func(pick []int) {
			var r float64
			for _, i := range pick {
				r += ranks[i]
			}
			total++
			if math.Abs(r-mean) >= dev-1e-9 {
				extreme++
			}
		})
		return float64(extreme) / float64(total)
	}
	N := float64(m + n)
	var ties float64
	for _, t := range tieGroups(ranks) {
		ties += float64(t*t*t - t)
	}
	variance := float64(m) * float64(n) / 12 * ((N + 1) - ties/(N*(N-1)))
	if variance <= 0 {
		return 1
	}
	z := (dev - 0.5) / math.Sqrt(variance) // continuity correction
	if z < 0 {
		return 1
	}
	return math.Erfc(z / math.Sqrt2)
}

// SmallestP is the smallest two-sided p-value the rank test can give for
// samples of m and n trials without ties: both extreme splits out of all.
func SmallestP(m, n int) float64 {
	if m == 0 || n == 0 {
		return 1
	}
	return math.Min(1, 2/float64(binomial(m+n, m)))
}

// TrialsNeeded is the fewest trials per run (the same on both sides) with
// which the rank test can call any change at level alpha: with three and
// three it never can at 5% (its smallest p is 0.1), with four it can.
func TrialsNeeded(alpha float64) int {
	for n := 2; n < 50; n++ {
		if SmallestP(n, n) < alpha {
			return n
		}
	}
	return 50
}

// Verdict is what a comparison may say about a change.
type Verdict int

const (
	Same   Verdict = iota // no change the trials can show: benchstat's "~"
	Better                // B is better than A beyond the noise
	Worse                 // B is worse than A beyond the noise
	TooFew                // the trials are too few for the test to call any change
)

func (v Verdict) String() string {
	return [...]string{"~", "better", "worse", "too few trials"}[v]
}

// Change is one figure of two runs, compared.
type Change struct {
	A, B    Spread
	Delta   float64 // (B - A) / A of the medians; NaN when A's is 0
	P       float64 // the rank test's two-sided p-value
	Verdict Verdict
	Need    int // with TooFew: trials per run the test needs
}

// Compare compares a figure's samples of run A and run B at level alpha.
// higher says whether more of the figure is better. A change is called
// only when the rank test says the trials differ (p < alpha); when the
// samples are too small for the test to ever say so, the verdict is TooFew
// and Need says how many trials would do.
func Compare(a, b Sample, higher bool, alpha float64) Change {
	c := Change{A: SpreadOf(a), B: SpreadOf(b), P: MannWhitney(a, b), Delta: math.NaN()}
	if c.A.Center != 0 {
		c.Delta = (c.B.Center - c.A.Center) / c.A.Center
	}
	switch {
	case len(a) == 0 || len(b) == 0:
		c.Verdict = TooFew
		c.Need = TrialsNeeded(alpha)
	case SmallestP(len(a), len(b)) >= alpha:
		c.Verdict = TooFew
		c.Need = TrialsNeeded(alpha)
	case c.P >= alpha:
		c.Verdict = Same
	case (c.B.Center > c.A.Center) == higher:
		c.Verdict = Better
	default:
		c.Verdict = Worse
	}
	return c
}

// AtSpeed scales a run's values from the speed its machine had (the
// median of the run's canaries) to a reference speed: value × reference ÷
// speed, so that two runs made while the machine ran at different speeds
// compare as if made at one. One factor for the whole run, not one per
// trial: within a run the trials of a step sit close in time, and each
// trial's own canary, read up to seconds before it with its own noise,
// widened the trials' spread in every run it was tried on (lines per
// CPU-second and throughput, docs/FINDINGS.md). Without a speed or a
// reference the values are kept. Only figures that scale with the
// machine's speed (rates, lines per CPU-second) are worth scaling; a
// latency under a fixed offered rate is not.
func AtSpeed(values []float64, speed, reference float64) Sample {
	out := make(Sample, len(values))
	for i, v := range values {
		out[i] = v
		if speed > 0 && reference > 0 {
			out[i] = v * reference / speed
		}
	}
	return out
}

// Ratios divides each trial's value by the reference implementation's in
// the same trial (the same round of interleaved trials, so the same
// machine): ratios between implementations survive the machine's drift.
// Trials missing on either side, or with a zero reference, are left out.
func Ratios(values, reference map[int]float64) Sample {
	var keys []int
	for k := range values {
		if r, ok := reference[k]; ok && r != 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := make(Sample, 0, len(keys))
	for _, k := range keys {
		out = append(out, values[k]/reference[k])
	}
	return out
}

// midRanks gives each value of a then b its rank in the pooled sample,
// tied values the mean of their ranks.
func midRanks(a, b []float64) []float64 {
	all := append(slices.Clone(a), b...)
	order := make([]int, len(all))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		switch {
		case all[i] < all[j]:
			return -1
		case all[i] > all[j]:
			return 1
		}
		return 0
	})
	ranks := make([]float64, len(all))
	for i := 0; i < len(order); {
		j := i
		for j+1 < len(order) && all[order[j+1]] == all[order[i]] {
			j++
		}
		mid := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			ranks[order[k]] = mid
		}
		i = j + 1
	}
	return ranks
}

func rankSum(r []float64) float64 {
	var s float64
	for _, x := range r {
		s += x
	}
	return s
}

// tieGroups are the sizes of groups of equal ranks (groups of one left out).
func tieGroups(ranks []float64) []int {
	count := map[float64]int{}
	for _, r := range ranks {
		count[r]++
	}
	var out []int
	for _, c := range count {
		if c > 1 {
			out = append(out, c)
		}
	}
	return out
}

func binomial(n, k int) int {
	if k < 0 || k > n {
		return 0
	}
	r := 1
	for i := 1; i <= k; i++ {
		r = r * (n - k + i) / i
		if r > math.MaxInt32 {
			return math.MaxInt32
		}
	}
	return r
}

// combinations calls f with every k-subset of 0..n-1 (f must not keep it).
func combinations(n, k int, f func([]int)) {
	pick := make([]int, k)
	var rec func(start, depth int)
	rec = func(start, depth int) {
		if depth == k {
			f(pick)
			return
		}
		for i := start; i <= n-(k-depth); i++ {
			pick[depth] = i
			rec(i+1, depth+1)
		}
	}
	rec(0, 0)
}
