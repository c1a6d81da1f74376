package analysis

import (
	"math"
	"testing"
)

func TestMannWhitney(t *testing.T) {
	t.Parallel()
	seq := func(from, n int) []float64 {
		var v []float64
		for i := range n {
			v = append(v, float64(from+i))
		}
		return v
	}
	for _, tc := range []struct {
		name   string
		a, b   []float64
		p, tol float64
	}{
		{"3 vs 3 apart: both extremes of 20 splits", []float64{1, 2, 3}, []float64{4, 5, 6}, 0.1, 1e-12},
		{"4 vs 4 apart: 2 of 70", []float64{1, 2, 3, 4}, []float64{5, 6, 7, 8}, 2.0 / 70, 1e-12},
		{"order does not matter", []float64{8, 6, 7, 5}, []float64{3, 1, 4, 2}, 2.0 / 70, 1e-12},
		{"the same sample", []float64{1, 2, 3}, []float64{1, 2, 3}, 1, 1e-12},
		{"interleaved", []float64{1, 3, 5, 7}, []float64{2, 4, 6, 8}, 0.6857, 1e-3},
		// Ties: pooled {1,1,2,2}: of the 6 splits, {1,1} and {2,2} are as
		// extreme as the observed.
		{"ties, exact", []float64{1, 1}, []float64{2, 2}, 2.0 / 6, 1e-12},
		{"one side empty", nil, []float64{1, 2}, 1, 0},
		// 20 vs 20 apart (normal approximation): z ≈ 5.4.
		{"large, apart", seq(1, 20), seq(21, 20), 6.8e-8, 2e-8},
		{"large, the same", seq(1, 20), seq(1, 20), 1, 0.01},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if p := MannWhitney(tc.a, tc.b); math.Abs(p-tc.p) > tc.tol {
				t.Errorf("p = %.6g, want %.6g", p, tc.p)
			}
		})
	}
}

// The normal approximation must agree with the exact count where both
// can be had.
func TestMannWhitneyApproximation(t *testing.T) {
	t.Parallel()
	a := []float64{3.1, 4.5, 2.2, 5.9, 4.0, 3.3, 6.1, 2.8, 4.7}
	b := []float64{5.0, 6.6, 7.2, 4.9, 6.3, 5.5, 7.9, 6.0, 5.8}
	exact := MannWhitney(a[:8], b[:8]) // 12,870 splits: counted
	approx := MannWhitney(a, b)        // 48,620 splits: approximated
	if exact > 0.01 || approx > 0.01 {
		t.Fatalf("exact %.4g, approximate %.4g: both should be small for samples this far apart", exact, approx)
	}
	if r := approx / MannWhitney(a, b[:8]); r > 10 || r < 0.1 {
		t.Errorf("approximation %.4g far from its neighbour %.4g", approx, MannWhitney(a, b[:8]))
	}
}

func TestTrialsNeeded(t *testing.T) {
	t.Parallel()
	if got := SmallestP(3, 3); got != 0.1 {
		t.Errorf("SmallestP(3, 3) = %v, want 0.1", got)
	}
	if got := TrialsNeeded(0.05); got != 4 {
		t.Errorf("TrialsNeeded(0.05) = %d, want 4", got)
	}
	if got := TrialsNeeded(0.01); got != 5 {
		t.Errorf("TrialsNeeded(0.01) = %d, want 5", got)
	}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	base := Sample{100, 102, 98, 101, 99}
	for _, tc := range []struct {
		name   string
		a, b   Sample
		higher bool
		want   Verdict
		need   int
	}{
		{"20% fewer lines", base, Sample{80, 82, 79, 81, 78}, true, Worse, 0},
		{"20% more lines", base, Sample{120, 122, 119, 121, 118}, true, Better, 0},
		{"p99 20% lower is better", base, Sample{80, 82, 79, 81, 78}, false, Better, 0},
		{"noise", base, Sample{101, 99, 100, 103, 97}, true, Same, 0},
		{"three and three can never tell", Sample{100, 101, 102}, Sample{50, 51, 52}, true, TooFew, 4},
		{"nothing on one side", base, nil, true, TooFew, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Compare(tc.a, tc.b, tc.higher, Alpha)
			if c.Verdict != tc.want || c.Need != tc.need {
				t.Errorf("verdict %v need %d (p %.3g, Δ %.3g), want %v need %d", c.Verdict, c.Need, c.P, c.Delta, tc.want, tc.need)
			}
		})
	}
}

func TestAtSpeed(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name         string
		speed, ref   float64
		values, want []float64
	}{
		// The run's machine ran at half the reference speed: every
		// figure doubles, and their spread keeps its shape.
		{"half speed", 50, 100, []float64{400, 500, 700}, []float64{800, 1000, 1400}},
		{"the reference run", 100, 100, []float64{400, 500}, []float64{400, 500}},
		{"no canary", 0, 100, []float64{400}, []float64{400}},
	} {
		got := AtSpeed(c.values, c.speed, c.ref)
		for i := range c.want {
			if math.Abs(got[i]-c.want[i]) > 1e-9 {
				t.Errorf("%s: AtSpeed = %v, want %v", c.name, got, c.want)
				break
			}
		}
	}
}

func TestRatios(t *testing.T) {
	t.Parallel()
	got := Ratios(map[int]float64{1: 50, 2: 60, 3: 70}, map[int]float64{1: 100, 3: 140, 4: 1})
	if len(got) != 2 || got[0] != 0.5 || got[1] != 0.5 {
		t.Errorf("Ratios = %v, want [0.5 0.5] (trial 2 has no reference)", got)
	}
}
