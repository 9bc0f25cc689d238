// The Go peers of weft's benchmarks, for scripts/bench.sh to print side by
// side: the same cases with goroutines, printed as `name_go value unit`.
// Standard library only. Run as `weft_bench_go CASE` with CASE one of switch,
// spawn_join, sleepers, timers, or as `weft_bench_go http_client URL CONNS
// SECONDS` (from scripts/http_bench.sh). Every case runs in a process of its
// own with GOMAXPROCS=1, so Go gets one thread of Go code, as a weft loop
// does (its garbage collector may still use other threads).
package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const reps = 5 // the ns figures are the best of reps runs, as in bench.h

func figure(name string, v float64, unit string) {
	if v >= 1000 {
		fmt.Printf("%s %.0f %s\n", name, v, unit)
	} else {
		fmt.Printf("%s %s %s\n", name, strconv.FormatFloat(v, 'g', 3, 64), unit)
	}
}

// statusBytes reads a field of /proc/self/status ("VmRSS", "VmHWM") in bytes.
func statusBytes(field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if line := s.Text(); strings.HasPrefix(line, field+":") {
			kib, _ := strconv.ParseFloat(strings.Fields(line[len(field)+1:])[0], 64)
			return kib * 1024
		}
	}
	return -1
}

// cpuTime is the user plus system time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// switchNs: two goroutines take turns with runtime.Gosched, 10M yields in
// all (round trip / 2), as weft's switch_ns.
func switchNs() {
	const switches = 10000000
	best := math.Inf(1)
	for r := 0; r < reps; r++ {
		var wg sync.WaitGroup
		wg.Add(2)
		body := func() {
			for i := 0; i < switches/2; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}
		t0 := time.Now()
		go body()
		go body()
		wg.Wait()
		best = math.Min(best, float64(time.Since(t0).Nanoseconds())/switches)
	}
	figure("switch_ns_go", best, "ns")
}

// spawnJoinNs: start a goroutine that ends at once and wait for it on a
// channel, 1M times in a row.
func spawnJoinNs() {
	const rounds = 1000000
	best := math.Inf(1)
	done := make(chan struct{})
	for r := 0; r < reps; r++ {
		t0 := time.Now()
		for i := 0; i < rounds; i++ {
			go func() { done <- struct{}{} }()
			<-done
		}
		best = math.Min(best, float64(time.Since(t0).Nanoseconds())/rounds)
	}
	figure("spawn_join_ns_go", best, "ns")
}

// minorFaults is the count of page faults the process has taken.
func minorFaults() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Minflt
}

// sleepers: 1M goroutines that each sleep 1 s; wall time from the first go
// statement to the WaitGroup's release, (peak RSS - RSS before) / 1M, page
// faults / 1M, and the most goroutines asleep at once, as bench/sleepers.c.
func sleepers() {
	const n = 1000000
	var wg sync.WaitGroup
	var alive, peak int64
	rss0, f0 := statusBytes("VmRSS"), minorFaults()
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			for a := atomic.AddInt64(&alive, 1); ; {
				p := atomic.LoadInt64(&peak)
				if a <= p || atomic.CompareAndSwapInt64(&peak, p, a) {
					break
				}
			}
			time.Sleep(time.Second)
			atomic.AddInt64(&alive, -1)
			wg.Done()
		}()
	}
	t1 := time.Now()
	wg.Wait()
	wall := time.Since(t0)
	rss, faults := statusBytes("VmHWM"), minorFaults()-f0
	figure("sleepers_1m_wall_s_go", wall.Seconds(), "s")
	figure("sleepers_1m_spawn_s_go", t1.Sub(t0).Seconds(), "s")
	figure("sleepers_1m_rss_per_task_bytes_go", (rss-rss0)/n, "bytes")
	figure("sleepers_1m_faults_per_task_go", float64(faults)/n, "faults")
	figure("sleepers_1m_peak_alive_go", float64(atomic.LoadInt64(&peak)), "tasks")
}

// timers: 1M time.AfterFunc with delays spread at random over [0, 1 s),
// the same xorshift sequence as bench/timers.c; the figure is the CPU time
// from the first arm to the last firing, as there.
func timers() {
	const n = 1000000
	seed := uint64(0x9e3779b97f4a7c15)
	pending := int64(n)
	done := make(chan struct{})
	fired := func() { // each runs in a goroutine of its own
		if atomic.AddInt64(&pending, -1) == 0 {
			close(done)
		}
	}
	c0, t0 := cpuTime(), time.Now()
	for i := 0; i < n; i++ {
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		time.AfterFunc(time.Duration(seed%uint64(time.Second)), fired)
	}
	t1 := time.Now()
	<-done
	c2, t2 := cpuTime(), time.Now()
	figure("timers_1m_s_go", (c2 - c0).Seconds(), "s")
	figure("timers_1m_wall_s_go", t2.Sub(t0).Seconds(), "s")
	figure("timers_1m_arm_s_go", t1.Sub(t0).Seconds(), "s")
}

// httpClient: conns goroutines sharing one http.Client, each GETting url
// again as soon as its last GET is read, for secs; the Transport keeps all
// conns connections alive between requests (its default keeps 2 per host).
// The figure is 200 responses per second of wall time, as weft-fetch's and
// libcurl's (bench/http_curl.c); any failed request fails the run.
func httpClient(url string, conns int, secs float64) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns}}
	var done, failed int64
	var wg sync.WaitGroup
	t0 := time.Now()
	end := t0.Add(time.Duration(secs * float64(time.Second)))
	get := func() {
		resp, err := client.Get(url)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if err == nil {
			atomic.AddInt64(&done, 1)
		} else if atomic.AddInt64(&failed, 1) == 1 {
			fmt.Fprintln(os.Stderr, "http_client_go:", err)
		}
	}
	wg.Add(conns)
	for i := 0; i < conns; i++ {
		go func() {
			for time.Now().Before(end) {
				get()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	wall := time.Since(t0)
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "http_client_go: %d of %d requests failed\n", failed, failed+done)
		os.Exit(1)
	}
	figure("http_client_rps_go", float64(done)/wall.Seconds(), "req/s")
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: weft_bench_go switch|spawn_join|sleepers|timers\n"+
		"       weft_bench_go http_client URL CONNS SECONDS")
	os.Exit(2)
}

func main() {
	cases := map[string]func(){
		"switch": switchNs, "spawn_join": spawnJoinNs, "sleepers": sleepers, "timers": timers,
	}
	switch {
	case len(os.Args) == 5 && os.Args[1] == "http_client":
		conns, err1 := strconv.Atoi(os.Args[3])
		secs, err2 := strconv.ParseFloat(os.Args[4], 64)
		if err1 != nil || err2 != nil || conns <= 0 || secs <= 0 {
			usage()
		}
		httpClient(os.Args[2], conns, secs)
	case len(os.Args) == 2 && cases[os.Args[1]] != nil:
		cases[os.Args[1]]()
	default:
		usage()
	}
}
