package units_test

import (
	"fmt"

	"github.com/linelab/linelab/lab/units"
)

func Example() {
	fmt.Println(units.Count(999), units.Count(1234), units.Count(12345), units.Count(2.5e6))
	fmt.Println(units.Micros(850), units.Micros(1250), units.Micros(2.5e6))
	fmt.Println(units.Bytes(512), units.Bytes(13.5*1024), units.Bytes(3<<20))
	fmt.Println(units.Cores("1"), "|", units.Cores("2-3"), "|", units.Cores("unpinned (one core)"), "|", units.Cores(""))
	// Output:
	// 999 1.23k 12.3k 2.50M
	// 850µs 1.25ms 2.50s
	// 512 B 13.5 KiB 3.0 MiB
	// core 1 | cores 2-3 | unpinned (one core) | unknown cores
}
