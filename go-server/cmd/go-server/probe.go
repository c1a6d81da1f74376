//go:build probe

// The probe build (go build -tags probe; go-server/bench builds it so) lets
// a benchmark outside the process see inside it, over the span it measures:
// SIGUSR1 marks the start, SIGUSR2 the end. At each mark the process prints
// "probe mallocs <n>" (heap objects allocated so far) on stdout, and with
// CPUPROFILE=<file> it profiles its CPU from the first mark to the second.
// The image's binary is built without it.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
)

func init() {
	marks := make(chan os.Signal, 2)
	signal.Notify(marks, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		var profile *os.File
		for sig := range marks {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			switch path := os.Getenv("CPUPROFILE"); {
			case sig == syscall.SIGUSR1 && path != "" && profile == nil:
				f, err := os.Create(path)
				if err == nil {
					err = pprof.StartCPUProfile(f)
				}
				if err != nil {
					fmt.Fprintf(os.Stderr, "go-server: CPUPROFILE: %v\n", err)
					break
				}
				profile = f
			case sig == syscall.SIGUSR2 && profile != nil:
				pprof.StopCPUProfile()
				profile.Close()
				profile = nil
			}
			fmt.Printf("probe mallocs %d\n", ms.Mallocs)
		}
	}()
}
