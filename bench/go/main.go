// The Go peers of weft's benchmarks, for scripts/bench.sh to print side by
// side: the same cases with goroutines, printed as `name_go value unit`.
// Standard library only. Run as `weft_bench_go CASE` with CASE one of switch,
// spawn_join, sleepers, timers, cross_loop_call, chan, spawn_process, or
// (from scripts/http_bench.sh) as `weft_bench_go http_client URL CONNS
// SECONDS`, `weft_bench_go delay_server PORT` or `weft_bench_go delay_fanout
// BASE_URL N D KEY=NAME...`. Every case runs in a process of its own with
// GOMAXPROCS=1, so Go gets one thread of Go code, as a weft loop does (its
// garbage collector may still use other threads); cross_loop_call and chan,
// the peers of two loops, run with GOMAXPROCS=2.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
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

// spawnPerS: start /bin/true (nil streams: /dev/null) and wait for it,
// 1000 times in a row; children per second, best of reps runs, as weft's
// spawn_per_s (bench/process.c).
func spawnPerS() {
	const rounds = 1000
	best := 0.0
	for r := 0; r < reps; r++ {
		t0 := time.Now()
		for i := 0; i < rounds; i++ {
			if err := exec.Command("/bin/true").Run(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		best = math.Max(best, rounds/time.Since(t0).Seconds())
	}
	figure("spawn_per_s_go", best, "/s")
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

// chanMsgs: one goroutine sends 1M ints on a channel to another, then
// closes it; the other drains it to the close. Capacity 64, then 1, as
// weft's chan_msgs_per_s_cross_loop (bench/chan.c). Run with GOMAXPROCS=2,
// so the two can run on two threads as weft's two loops do.
func chanMsgs() {
	const n = 1000000
	for _, capacity := range []int{64, 1} {
		best := 0.0
		for r := 0; r < reps; r++ {
			ch := make(chan int, capacity)
			done := make(chan struct{})
			t0 := time.Now()
			go func() {
				want := 1
				for v := range ch {
					if v != want {
						panic("out of order")
					}
					want++
				}
				if want != n+1 {
					panic("lost messages")
				}
				close(done)
			}()
			go func() {
				for i := 1; i <= n; i++ {
					ch <- i
				}
				close(ch)
			}()
			<-done
			best = math.Max(best, n/time.Since(t0).Seconds())
		}
		name := "chan_msgs_per_s_cross_loop_go"
		if capacity == 1 {
			name = "chan_msgs_per_s_cross_loop_cap1_go"
		}
		figure(name, best, "msg/s")
	}
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

// delayServer: the Go peer of weft-httpbin for GET /delay/N, net/http's
// server on 127.0.0.1:port (0 picks a free one), one goroutine per
// connection as net/http always has. The first line of output names the
// address, as weft-httpbin's does, for the script to read the port from.
// The listener's backlog is net.core.somaxconn, which also caps
// weft-httpbin's, so both meet a burst of connects with the same queue.
func delayServer(port string) {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "delay_server:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	http.HandleFunc("/delay/", delayHandler)
	fmt.Fprintln(os.Stderr, "delay_server:", http.Serve(ln, nil))
	os.Exit(1)
}

// delayHandler waits min(N, 10) seconds, as httpbin does, then answers
// with a JSON echo of the request as weft-httpbin's /delay does, so both
// servers build and send a body of about the same size.
func delayHandler(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/delay/"))
	if err != nil || n < 0 {
		http.Error(w, "bad delay", http.StatusInternalServerError)
		return
	}
	if n > 10 {
		n = 10
	}
	t := time.NewTimer(time.Duration(n) * time.Second)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done(): // the client went away: nobody to answer
		return
	}
	headers := map[string]string{"Host": r.Host}
	for k, v := range r.Header {
		headers[k] = strings.Join(v, ",")
	}
	origin, _, _ := net.SplitHostPort(r.RemoteAddr)
	body, _ := json.Marshal(map[string]interface{}{
		"args": map[string]string{}, "headers": headers, "origin": origin,
		"url": "http://" + r.Host + r.URL.RequestURI(),
	})
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// fanout is what one delayFanout run measured, in ns; maxima are updated
// with atomics although GOMAXPROCS=1, since goroutines may still run on
// another thread after a blocking system call.
type fanout struct {
	hold, connect, failed int64
	firstErr              atomic.Value
}

var epoch = time.Now()

// mono is the monotonic clock in ns since the process started.
func mono() int64 { return int64(time.Since(epoch)) }

func atomicMax(p *int64, v int64) {
	for old := atomic.LoadInt64(p); v > old && !atomic.CompareAndSwapInt64(p, old, v); {
		old = atomic.LoadInt64(p)
	}
}

// get makes one GET, tracing its connect and its wait from the request
// written to the first byte of the response (the server's hold, as
// weft_http_timings.first_byte is in bench/http_delay_fanout.c).
// The hooks run on the Transport's goroutines (dial, write loop, read loop),
// hence the atomics for the times they pass between them.
func (f *fanout) get(client *http.Client, url string) {
	var connStart, wrote int64
	trace := &httptrace.ClientTrace{
		ConnectStart: func(string, string) { atomic.StoreInt64(&connStart, mono()) },
		ConnectDone: func(string, string, error) {
			atomicMax(&f.connect, mono()-atomic.LoadInt64(&connStart))
		},
		WroteRequest: func(httptrace.WroteRequestInfo) { atomic.StoreInt64(&wrote, mono()) },
		GotFirstResponseByte: func() {
			atomicMax(&f.hold, mono()-atomic.LoadInt64(&wrote))
		},
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
		http.MethodGet, url, nil)
	var resp *http.Response
	if err == nil {
		resp, err = client.Do(req)
	}
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	if err != nil && atomic.AddInt64(&f.failed, 1) == 1 {
		f.firstErr.Store(err)
	}
}

// delayFanout: n goroutines at once, each GET base/delay/d, sharing one
// http.Client whose Transport may keep all n connections to the one host
// (its default keeps 2 idle and closes the rest), as bench/http_delay_fanout.c
// shares one weft_http_client allowed n. Any failure fails the run. Prints
// only the figures named on the command line, KEY=NAME with KEY one of wall
// (first request started to last response read, s), hold (the longest
// request written to first byte, / d), connect (the slowest connect, s) and
// pages (the process's minor faults over the fan-out / n).
func delayFanout(base string, n, d int, names map[string]string) {
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConns: n, MaxIdleConnsPerHost: n},
		// As the weft client's 30 s connect and read timeouts: a server
		// slow to take n connections gives a large figure, not failures.
		Timeout: 30*time.Second + time.Duration(d)*time.Second,
	}
	url := fmt.Sprintf("%s/delay/%d", base, d)
	var f fanout
	var wg sync.WaitGroup
	wg.Add(n)
	f0, t0 := minorFaults(), time.Now()
	for i := 0; i < n; i++ {
		go func() { f.get(client, url); wg.Done() }()
	}
	wg.Wait()
	wall, faults := time.Since(t0), minorFaults()-f0
	if f.failed > 0 {
		fmt.Fprintf(os.Stderr, "delay_fanout_go: %d of %d requests failed, the first with %v\n",
			f.failed, n, f.firstErr.Load())
		os.Exit(1)
	}
	values := map[string]float64{
		"wall": wall.Seconds(), "hold": float64(f.hold) / 1e9 / float64(d),
		"connect": float64(f.connect) / 1e9, "pages": float64(faults) / float64(n),
	}
	units := map[string]string{"wall": "s", "hold": "x", "connect": "s", "pages": "pages"}
	for _, k := range []string{"wall", "hold", "connect", "pages"} {
		if names[k] != "" {
			figure(names[k], values[k], units[k])
		}
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: weft_bench_go switch|spawn_join|sleepers|timers|cross_loop_call|chan|spawn_process\n"+
		"       weft_bench_go http_client URL CONNS SECONDS\n"+
		"       weft_bench_go delay_server PORT\n"+
		"       weft_bench_go delay_fanout BASE_URL N D {wall|hold|connect|pages}=NAME...")
	os.Exit(2)
}

// fanoutArgs parses delay_fanout's N, D and KEY=NAME arguments.
func fanoutArgs(args []string) (n, d int, names map[string]string) {
	n, err1 := strconv.Atoi(args[0])
	d, err2 := strconv.Atoi(args[1])
	if err1 != nil || err2 != nil || n <= 0 || d <= 0 {
		usage()
	}
	names = map[string]string{}
	for _, a := range args[2:] {
		k, v, ok := strings.Cut(a, "=")
		if !ok || v == "" || (k != "wall" && k != "hold" && k != "connect" && k != "pages") {
			usage()
		}
		names[k] = v
	}
	return n, d, names
}

// crossLoopCall is weft's cross_loop_call_us in Go: a request and its reply
// on two unbuffered channels between two goroutines, which GOMAXPROCS=2
// (set by the caller) lets run on two threads; best of reps runs.
func crossLoopCall() {
	const rounds = 100000
	best := math.Inf(1)
	for r := 0; r < reps; r++ {
		req, rep := make(chan int), make(chan int)
		go func() {
			for v := range req {
				rep <- v
			}
		}()
		t0 := time.Now()
		for i := 0; i < rounds; i++ {
			req <- i
			<-rep
		}
		us := float64(time.Since(t0).Nanoseconds()) / rounds / 1000
		close(req)
		best = math.Min(best, us)
	}
	figure("cross_loop_call_us_go", best, "us")
}

func main() {
	cases := map[string]func(){
		"switch": switchNs, "spawn_join": spawnJoinNs, "sleepers": sleepers, "timers": timers,
		"cross_loop_call": crossLoopCall, "chan": chanMsgs, "spawn_process": spawnPerS,
	}
	switch {
	case len(os.Args) == 5 && os.Args[1] == "http_client":
		conns, err1 := strconv.Atoi(os.Args[3])
		secs, err2 := strconv.ParseFloat(os.Args[4], 64)
		if err1 != nil || err2 != nil || conns <= 0 || secs <= 0 {
			usage()
		}
		httpClient(os.Args[2], conns, secs)
	case len(os.Args) == 3 && os.Args[1] == "delay_server":
		delayServer(os.Args[2])
	case len(os.Args) >= 5 && os.Args[1] == "delay_fanout":
		n, d, names := fanoutArgs(os.Args[3:])
		delayFanout(os.Args[2], n, d, names)
	case len(os.Args) == 2 && cases[os.Args[1]] != nil:
		cases[os.Args[1]]()
	default:
		usage()
	}
}
