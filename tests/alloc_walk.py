"""The installed programs' allocation walk: runs one program again and again
under the preload shim (tests/failmalloc.c) with its Nth allocation failing,
N = 1, 2, 3, ... until a run makes no failing allocation.

Usage: python3 alloc_walk.py SHIM BUILD_DIR PROGRAM [--skip REASON]
  PROGRAM: trace  weft-trace drawing a small trace
           httpbin  weft-httpbin serving curl's requests to 8 endpoints
           serve  weft-serve serving curl's requests for a small tree
           fetch  weft-fetch against a weft-httpbin run without the shim
                  (fetch.N: its Nth command line, 0 to 6)

Each point must end in one of two ways, and never by a signal or a hang:
  - a non-zero exit with a message on stderr, or
  - the same result as the run without faults (the failure was recovered
    from: for weft-httpbin, the request that met it may get a 5xx or lose
    its connection, but every other one must be answered in full).

A clean run counts the program's allocations (A). The walk visits every
point up to FULL (400), and past it every STRIDE-th, STRIDE chosen so that
at most REST (200) more runs cover the rest of A; it goes on past A, by the
same stride, until a run no longer reaches its point (the count varies a
little from run to run: the httpd's timing, the DNS pool's threads).

On a failure it prints the point and how to see where it was:
  WEFT_FAILMALLOC_AT=N WEFT_FAILMALLOC_BT=1 LD_PRELOAD=SHIM PROGRAM ...
and goes on, so one run lists them all; it exits 1 if any point failed, 77
(skipped) with --skip.
"""
import os
import re
import select
import shlex
import signal
import subprocess
import sys
import tempfile
import time

FULL, REST = 400, 200
RUN_TIMEOUT = 10  # seconds a run may take: all are well under one


class Run:
    def __init__(self, rc, err, result, hit):
        self.rc, self.err, self.result, self.hit = rc, err, result, hit


def shim_env(shim, log, n):
    env = dict(os.environ, LD_PRELOAD=shim, WEFT_FAILMALLOC_LOG=log, WEFT_FAILMALLOC_AT=str(n))
    env.pop("WEFT_FAILMALLOC_BT", None)
    return env


def read_log(log):
    """(hit, count) from the shim's log, which is then emptied."""
    try:
        with open(log) as f:
            text = f.read()
        os.unlink(log)
    except FileNotFoundError:
        text = ""
    hit = re.search(r"^fail ", text, re.M) is not None
    m = re.search(r"^count (\d+)", text, re.M)
    return hit, int(m.group(1)) if m else None


# ---------------------------------------------------------------- programs

class Trace:
    """weft-trace on a trace the example Program 2 wrote; the result is the SVG."""

    def __init__(self, build, tmp):
        self.tool = os.path.join(build, "apps/weft-trace/weft-trace")
        self.trace = os.path.join(tmp, "p2.json")
        self.svg = os.path.join(tmp, "p2.svg")
        prog = os.path.join(build, "examples/blocking_vs_nonblocking")
        if not os.access(prog, os.X_OK):
            self.trace = None
            return
        subprocess.run([prog], env=dict(os.environ, WEFT_TRACE=self.trace), stdout=subprocess.DEVNULL,
                       check=True, timeout=30)

    def argv(self):
        return [self.tool, self.trace, "-o", self.svg]

    def run(self, env):
        if os.path.exists(self.svg):
            os.unlink(self.svg)
        p = subprocess.run(self.argv(), env=env, capture_output=True, timeout=RUN_TIMEOUT)
        result = open(self.svg, "rb").read() if p.returncode == 0 and os.path.exists(self.svg) else None
        return p.returncode, p.stderr, result


def start_httpbin(argv, env):
    """Starts a server that prints "listening on URL" first (weft-httpbin,
    weft-serve; argv has --port 0): (process, url), url None if it exited
    first."""
    binary = argv[0]
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ready, _, _ = select.select([p.stdout], [], [], RUN_TIMEOUT)
    line = p.stdout.readline().decode() if ready else ""
    m = re.match(r"listening on (http://\S+)", line)
    if not ready:
        p.kill()
        p.wait()
        raise subprocess.TimeoutExpired(binary, RUN_TIMEOUT)
    return p, m.group(1) if m else None


def stop_httpbin(p):
    """SIGTERM, then its exit status and stderr; a hang raises TimeoutExpired."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        _, err = p.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise
    return p.returncode, err


def curl(base, requests, tmp):
    """One curl making each request (path, curl options) in turn, over one
    connection while the server keeps it (a curl starts in ~30 ms): a list
    of (HTTP status, body), status 0 if that one failed to connect or was
    cut off (curl's exit code for it not 0)."""
    argv, outs = ["curl"], []
    for i, (path, opts) in enumerate(requests):
        outs.append(os.path.join(tmp, "body%d" % i))
        if os.path.exists(outs[-1]):
            os.unlink(outs[-1])
        argv += (["--next"] if i else []) + ["-s", "-w", "%{http_code} %{exitcode}\\n", "--max-time", str(RUN_TIMEOUT),
                                            "-o", outs[-1]] + opts + [base + path]
    p = subprocess.run(argv, capture_output=True, timeout=RUN_TIMEOUT + 5)
    lines = p.stdout.decode().splitlines()
    got = []
    for i, out in enumerate(outs):
        body = open(out, "rb").read() if os.path.exists(out) else b""
        status, code = (int(x) for x in lines[i].split()) if i < len(lines) else (0, 0)
        # A transfer cut short (a stream the server aborted) is a failure
        # whatever its status line said.
        got.append((status if code == 0 else 0, body))
    return got


class Httpbin:
    """weft-httpbin serving curl's requests, one connection for all (but
    after a failure that closed it), then SIGTERM. The requests reach the
    endpoints that build their answers (JSON, a fixed point for
    /response-headers, gzip and deflate, a stream, multipart, a redirect);
    their answers do not vary from run to run."""

    REQUESTS = [
        ("/anything/walk?q=1", ["-d", "a=1&b=%C3%A9", "-H", "X-Walk: 1"]),
        ("/response-headers?X-A=1&X-A=2&Y=3", []),
        ("/gzip", ["--compressed"]),  # decoded: the bodies name the port, replaced below
        ("/deflate", ["--compressed"]),
        ("/stream/3", []),
        ("/post", ["-H", "Content-Type: multipart/form-data; boundary=b0", "--data-binary",  # curl's -F: a random boundary
                   '--b0\r\nContent-Disposition: form-data; name="f"; filename="x.txt"\r\n\r\nhello\r\n'
                   '--b0\r\nContent-Disposition: form-data; name="g"\r\n\r\n2\r\n--b0--\r\n']),
        ("/redirect-to?url=/get&status_code=307", []),
        ("/cookies/set?c=1", []),
    ]

    def __init__(self, build, tmp):
        self.binary = os.path.join(build, "apps/weft-httpbin/weft-httpbin")
        self.tmp = tmp

    def argv(self):
        return [self.binary, "--port", "0"]

    def run(self, env):
        p, url = start_httpbin(self.argv(), env)
        if url is None:  # it could not start: it must say so
            rc, err = stop_httpbin(p)
            return rc, err, None
        host = url.split("//")[1].encode()  # the port differs from run to run; bodies name it
        got = [(status, body.replace(host, b"HOST")) for status, body in curl(url, self.REQUESTS, self.tmp)]
        rc, err = stop_httpbin(p)
        return rc, err, got

    def same(self, got, clean):
        """None if each request got the clean run's answer or a failure a
        server may give (a 5xx, the connection closed), and at most one
        failed: one allocation failed, and the server recovered from it."""
        odd = [(self.REQUESTS[i][0], r) for i, r in enumerate(got) if r != clean[i]]
        for path, r in odd:
            if r[0] not in (0, 500, 503):
                return "exit 0, but %s got %d %r" % (path, r[0], r[1][:200])
        if len(odd) > 1:
            return "exit 0, but %d requests failed (%s): the server did not recover" % (
                len(odd), ", ".join("%s %d" % (path, r[0]) for path, r in odd))
        return None


class Serve(Httpbin):
    """weft-serve serving curl's requests over one connection, as Httpbin's:
    a file, a range of it, a 304, an index file, a listing, a 404 and a
    traversal attempt, from a tree made once for the whole walk."""

    REQUESTS = [
        ("/hello.txt", []),
        ("/hello.txt", ["-r", "2-4"]),
        ("/hello.txt", ["-z", "Jan 1 2000"]),
        ("/hello.txt", ["-H", "If-None-Match: *"]),
        ("/sub/", []),
        ("/list/", []),
        ("/none", []),
        ("/../x", ["--path-as-is"]),
    ]

    def __init__(self, build, tmp):
        self.binary = os.path.join(build, "apps/weft-serve/weft-serve")
        self.tmp = tmp
        self.root = os.path.join(tmp, "root")
        for d in ("sub", "list"):
            os.makedirs(os.path.join(self.root, d))
        for name, text in (("hello.txt", "hello, world\n"), ("sub/index.html", "<p>sub</p>\n"),
                           ("list/a b.txt", "ab\n")):
            with open(os.path.join(self.root, name), "w") as f:
                f.write(text)

    def argv(self):
        return [self.binary, "--port", "0", self.root]


class Fetch:
    """weft-fetch against a weft-httpbin run without the shim, over command
    lines that between them reach every part of it (fetch.N runs the Nth):
    -L through a redirect to a gzipped body into a file, a GET to stdout, a
    form POST to a file with -w, a multipart body over redirects, two URLs
    at once, -v -i with decoding, and the load mode. The result is what it
    wrote (stdout, or the file); None where that varies from run to run
    (-Z's order, the load mode's timings), and then only the exit counts."""

    def __init__(self, build, tmp, variant=0):
        self.binary = os.path.join(build, "apps/weft-fetch/weft-fetch")
        self.out = os.path.join(tmp, "body")
        self.upload = os.path.join(tmp, "in.txt")
        with open(self.upload, "w") as f:
            f.write("file part")
        self.server, self.base = start_httpbin([os.path.join(build, "apps/weft-httpbin/weft-httpbin"), "--port", "0"],
                                               dict(os.environ))
        b = self.base
        self.args, self.steady = [
            (["-L", "-o", self.out, "-H", "X-Walk: 1", b + "/redirect-to?url=%2Fgzip"], True),
            (["-sS", b + "/get"], True),
            (["-sS", "-d", "a=1", "-o", self.out, "-w", "%{http_code}", b + "/post"], True),
            (["-sS", "-F", "f=@" + self.upload, "-L", b + "/redirect/2"], True),
            (["-sS", "-Z", b + "/get", b + "/json"], False),
            (["-sS", "-v", "-i", "--compressed", b + "/gzip"], False),
            (["-n", "5", "-c", "2", b + "/get"], False),
        ][variant]

    def argv(self):
        return [self.binary] + self.args

    def run(self, env):
        if os.path.exists(self.out):
            os.unlink(self.out)
        p = subprocess.run(self.argv(), env=env, capture_output=True, timeout=RUN_TIMEOUT)
        result = None
        if p.returncode == 0 and self.steady:
            result = open(self.out, "rb").read() if "-o" in self.args else p.stdout
        return p.returncode, p.stderr, result

    def close(self):
        stop_httpbin(self.server)


PROGRAMS = {"trace": Trace, "httpbin": Httpbin, "serve": Serve, "fetch": Fetch}


# ---------------------------------------------------------------- the walk

def one(prog, shim, log, n):
    try:
        rc, err, result = prog.run(shim_env(shim, log, n))
    except subprocess.TimeoutExpired:
        read_log(log)
        return Run(None, b"", None, True)
    hit, count = read_log(log)
    run = Run(rc, err, result, hit)
    run.count = count
    return run


def verdict(prog, run, clean):
    """None if the point ended as it must, else what went wrong."""
    if run.rc is None:
        return "hung (no exit within %d s)" % RUN_TIMEOUT
    if run.rc < 0:
        return "killed by signal %s" % signal.Signals(-run.rc).name
    if run.rc != 0:
        if not run.err.strip():
            return "exit %d with nothing on stderr" % run.rc
        if not run.hit:
            return "exit %d without a failed allocation: %s" % (run.rc, run.err.decode(errors="replace").strip())
        return None
    if hasattr(prog, "same"):
        return prog.same(run.result, clean)
    return None if run.result == clean else "exit 0 but not the clean run's result (a failure passed over silently)"


def plan(total):
    """The points to visit, in order, and the stride past the last one."""
    if total <= FULL:
        return list(range(1, total + 1)), 1
    stride = -(-(total - FULL) // REST)
    return list(range(1, FULL + 1)) + list(range(FULL + stride, total + 1, stride)), stride


def main():
    shim, build, name = sys.argv[1:4]
    if len(sys.argv) > 5 and sys.argv[4] == "--skip":
        print("skipped: " + sys.argv[5])
        return 77
    if name in ("httpbin", "serve") and subprocess.run(["sh", "-c", "command -v curl"], capture_output=True).returncode:
        print("skipped: curl is not installed")
        return 77
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        base, _, variant = name.partition(".")
        prog = PROGRAMS[base](build, tmp, int(variant)) if variant else PROGRAMS[base](build, tmp)
        if getattr(prog, "trace", "") is None:
            print("skipped: the examples are not built (the trace comes from one)")
            return 77
        log = os.path.join(tmp, "failmalloc.log")
        try:
            return walk(prog, shim, log, name, started)
        finally:
            if hasattr(prog, "close"):
                prog.close()


def walk(prog, shim, log, name, started):
    clean = one(prog, shim, log, 0)
    if clean.rc != 0 or clean.count is None:
        print("the run without faults failed: exit %s, %s" % (clean.rc, clean.err.decode(errors="replace")))
        return 1
    points, stride = plan(clean.count)
    failures, visited, n, i = [], 0, 0, 0
    while True:
        n = points[i] if i < len(points) else n + stride
        i += 1
        run = one(prog, shim, log, n)
        visited += 1
        why = verdict(prog, run, clean.result)
        if why:
            failures.append(n)
            print("point %d: %s" % (n, why))
            if run.err:
                print("  stderr: " + run.err.decode(errors="replace").strip().replace("\n", "\n          "))
        if not run.hit and not why:
            break
        if len(failures) >= 50:
            print("stopping after 50 failed points")
            break
        if n > 4 * clean.count + 100:  # each run reaches further than the clean one: a runaway
            print("point %d: still failing allocations past 4x the clean run's %d" % (n, clean.count))
            failures.append(n)
            break
    print("%s: %d allocations in a clean run; %d points walked (every one to %d, then every %d) in %.1f s; "
          "%d failed" % (name, clean.count, visited, min(FULL, clean.count), stride, time.monotonic() - started,
                         len(failures)))
    if failures:
        print("to see where point N fails: WEFT_FAILMALLOC_AT=N WEFT_FAILMALLOC_BT=1 LD_PRELOAD=%s %s"
              % (shim, " ".join(shlex.quote(a) for a in prog.argv())))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
