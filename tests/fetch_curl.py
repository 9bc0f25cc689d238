#!/usr/bin/env python3
"""weft-fetch against curl 7.88, differentially: each case runs the same
command line through /usr/bin/curl and weft-fetch, each in a fresh
directory, against the same servers, and compares the exit status, stdout
and the files written (and, where the case asks, stderr or -v's head
lines). The servers: weft-httpbin on loopback (a free port; its first
stdout line says which), a raw socket server here for the failures httpbin
cannot make (a cut body, a reset, no reply), a TLS server here
(Python's ssl) with certificates made by openssl at test time, and for
HTTP/2 nghttp2's nghttpd (h2c and TLS).

    fetch_curl.py BUILD_DIR GROUP      exit 0 pass, 1 fail, 77 skipped

Normalised, each for the reason given in NORMS: what differs by design or
by the clock, never what a user would act on.
"""
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import http.server

BUILD, GROUP = os.path.abspath(sys.argv[1]), sys.argv[2]
FETCH = os.path.join(BUILD, "apps/weft-fetch/weft-fetch")
HTTPBIN = os.path.join(BUILD, "apps/weft-httpbin/weft-httpbin")
CURL = "/usr/bin/curl"

for need in (FETCH, HTTPBIN, CURL):
    if not os.access(need, os.X_OK):
        print(f"{need} missing: skipped")
        sys.exit(77)

NORMS = [
    # Each program names itself in its default User-Agent (httpbin echoes it).
    (rb"curl/7\.88\.1|weft-fetch/[0-9.]+", b"AGENT"),
    # The server's clock.
    (rb"[Dd]ate: [^\r\n]*", b"Date: DATE"),
    # Multipart boundaries are random in both (same length: curl's form).
    (rb"-{24}[0-9a-f]{16}", b"BOUNDARY"),
    # Timings (-w %{time_*}) are the clock's.
    (rb"\b\d+\.\d{6}\b", b"SECONDS"),
    # --compressed: curl also offers br and zstd, which weft cannot decode.
    (rb"deflate, gzip, br, zstd", b"deflate, gzip"),
    # curl's messages name curl; weft-fetch's name weft-fetch.
    (rb"\bcurl: ", b"PROG: "),
    (rb"weft-fetch: ", b"PROG: "),
    # The usage hint names each program's own help (weft-fetch has no --manual).
    (rb"try '(curl --help' or 'curl --manual'|weft-fetch --help')", b"try HELP"),
    # "after N ms" in a refused connection's message is the clock's.
    (rb"after \d+ ms", b"after N ms"),
    # curl follows a certificate error with a paragraph of advice; weft-fetch
    # says only the line.
    (rb"\nMore details here:.*", b"\n"),
]


def norm(b):
    for pat, rep in NORMS:
        b = re.sub(pat, rep, b, flags=re.S if pat.startswith(rb"\nMore") else 0)
    return b


failures = []


def run(prog, args, cwd, stdin=None, env=None):
    p = subprocess.run([prog] + args, cwd=cwd, input=stdin, capture_output=True, timeout=30, env=env)
    files = {}
    for name in sorted(os.listdir(cwd)):
        path = os.path.join(cwd, name)
        if os.path.isfile(path) and not name.startswith("in."):
            with open(path, "rb") as f:
                files[name] = norm(f.read())
    return p.returncode, norm(p.stdout), norm(p.stderr), files


def heads(stderr):
    """-v's request and response head lines ("> " and "< "), in order."""
    return [l for l in stderr.split(b"\n") if l.startswith(b"> ") or l.startswith(b"< ")]


def case(args, stdin=None, stderr=False, verbose=False, inputs=None):
    """Runs `args` through both programs; records what differs."""
    outs = []
    for prog in (CURL, FETCH):
        d = tempfile.mkdtemp(dir=TMP)
        for name, data in (inputs or {}).items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        outs.append(run(prog, args, d, stdin))
        shutil.rmtree(d)
    (crc, cout, cerr, cfiles), (wrc, wout, werr, wfiles) = outs
    what = []
    if crc != wrc:
        what.append(f"exit {crc} (curl) vs {wrc} (weft-fetch)")
    if cout != wout:
        what.append(f"stdout:\n  curl: {cout[:600]!r}\n  weft: {wout[:600]!r}")
    if cfiles != wfiles:
        what.append(f"files:\n  curl: {str(cfiles)[:600]}\n  weft: {str(wfiles)[:600]}")
    if stderr and cerr != werr:
        what.append(f"stderr:\n  curl: {cerr[:600]!r}\n  weft: {werr[:600]!r}")
    ch, wh = heads(cerr), heads(werr)
    if verbose == "sorted":
        # weft's client writes Content-Length after every other field; curl
        # writes its own Content-Type after it: the same fields, in another order.
        ch, wh = sorted(ch), sorted(wh)
    if verbose and ch != wh:
        what.append(f"-v heads:\n  curl: {heads(cerr)}\n  weft: {heads(werr)}")
    print(("ok   " if not what else "FAIL ") + " ".join(args))
    for w in what:
        print("     " + w)
    if what:
        failures.append(args)


# ---------------------------------------------------------------- servers

TMP = tempfile.mkdtemp(prefix="fetch-curl-")
SERVERS = []   # peers to stop at the end


def start_httpbin():
    p = subprocess.Popen([HTTPBIN, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = p.stdout.readline().decode()
    m = re.match(r"listening on (http://\S+)", line)
    if not m:
        p.kill()
        print("weft-httpbin did not start: " + line)
        sys.exit(1)
    return p, m.group(1)


def raw_server():
    """A server that misbehaves by path: /partial (a body cut short),
    /reset (a reset after the head), /empty (closed without a reply),
    /badchunk (a malformed chunk)."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)

    def serve(c):
        data = b""
        while b"\r\n\r\n" not in data:
            got = c.recv(4096)
            if not got:
                break
            data += got
        path = data.split(b" ")[1] if b" " in data else b"/"
        if path == b"/partial":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        elif path == b"/reset":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif path == b"/badchunk":
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n")
        c.close()

    def loop():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return "http://127.0.0.1:%d" % ls.getsockname()[1]


def make_certs(d):
    """A CA, a server certificate for localhost/127.0.0.1 and a client
    certificate, all signed by the CA (openssl's command line)."""
    def ossl(*a):
        subprocess.run(["openssl"] + list(a), cwd=d, check=True, capture_output=True)
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
         "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=weft test CA")
    for name, ext in (("server", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
                      ("client", "extendedKeyUsage=clientAuth")):
        ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
             name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write(ext + "\n")
        ossl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", name + ".pem", "-days", "1", "-extfile", name + ".ext")


def tls_server(d, require_client):
    """HTTPS on loopback: /hello says hello, /whoami the client
    certificate's CN (or "nobody")."""
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            cert = self.connection.getpeercert()
            who = dict(x[0] for x in cert["subject"])["commonName"] if cert else "nobody"
            body = (b"hello\n" if self.path == "/hello" else who.encode() + b"\n")
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, "server.pem"), os.path.join(d, "server.key"))
    if require_client:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(os.path.join(d, "ca.pem"))
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1]


# ----------------------------------------------------------------- groups

def g_output(b):
    case([b + "/get"])
    case(["-s", b + "/json"])
    case(["-o", "out.json", b + "/json"])
    case(["-s", "-o", "-", b + "/json"])
    case(["-s", "-O", b + "/json"])
    case(["-s", "-O", b + "/"], stderr=True)
    case(["-sS", "-o", "sub/none", b + "/json"], stderr=True)
    case(["-s", "-i", "-A", "agent", b + "/get"])
    case(["-s", "-I", "-A", "agent", b + "/get"])
    case(["-s", "-v", "-A", "agent", b + "/get"], verbose=True)
    case(["-s", "-v", "-A", "agent", "-d", "a=1", b + "/post"], verbose="sorted")
    case(["-s", "-w", "%{http_code} %{size_download} %{url_effective} %{num_redirects} %{content_type}\\n",
          b + "/bytes/100?seed=1"])
    case(["-s", "-o", "/dev/null", "-w",
          "%{time_total} %{time_connect} %{time_starttransfer} %{time_namelookup} %{exitcode}\\n%%",
          b + "/get"])
    case(["-s", "-w", "%header{content-type}|%{response_code}", "-o", "x", b + "/status/201"])
    case(["-s", "-w", "%{http_code}", b + "/nowhere"])
    case(["-sS", "-w", "%{http_code} %{exitcode}", "http://127.0.0.1:1/"], stderr=True)


def g_bodies(b):
    inp = {"in.form": b"a=1\r\nb=2\n", "in.bin": b"x\r\ny\0z\n", "in.txt": b"hello\nfile\n",
           "in.json": b'{"k": [1, 2]}'}
    case(["-s", "-d", "a=1", "-d", "b=two words", b + "/post"])
    case(["-s", "-d", "@in.form", b + "/post"], inputs=inp)
    case(["-s", "--data-binary", "@in.bin", b + "/post"], inputs=inp)
    case(["-s", "--data-raw", "@notafile", b + "/post"])
    case(["-s", "-d", "@-", b + "/post"], stdin=b"from=stdin\n")
    case(["-s", "--data-urlencode", "a b&c", "--data-urlencode", "=x y", "--data-urlencode", "n=v w/ü",
          "--data-urlencode", "f@in.txt", b + "/post"], inputs=inp)
    case(["-s", "--json", '{"a": 1}', b + "/post"])
    case(["-s", "--json", "@in.json", b + "/post"], inputs=inp)
    case(["-s", "-H", "Content-Type: application/json", "-d", '{"a":1}', b + "/post"])
    case(["-s", "-H", "content-type: text/plain", "--json", "[1]", b + "/post"])
    case(["-s", "-F", "a=1", "-F", "f=@in.txt", "-F", "g=<in.txt", "-F", "h=@in.bin;type=x/y;filename=z",
          b + "/post"], inputs=inp)
    case(["-s", "-G", "-d", "a=1", "-d", "b=2", b + "/get?c=3"])
    case(["-s", "-T", "in.txt", b + "/put"], inputs=inp)
    case(["-s", "-T", "in.txt", b + "/anything/"], inputs=inp)
    case(["-s", "-T", "-", b + "/put"], stdin=b"piped body")
    case(["-s", "-X", "PATCH", "-d", "x=1", b + "/patch"])
    case(["-s", "-X", "DELETE", b + "/delete"])
    case(["-sS", "-T", "in.none", b + "/put"])
    case(["-sS", "-F", "f=@in.none", b + "/post"])
    case(["-s", "-d", "@in.none", b + "/post"])


def g_headers(b):
    case(["-s", "-H", "X-One: 1", "-H", "X-Two: two", b + "/headers"])
    case(["-s", "-H", "Accept:", "-H", "User-Agent:", "-H", "X-Empty;", b + "/headers"])
    case(["-s", "-H", "Accept: text/x", "-H", "User-Agent: mine", b + "/headers"])
    case(["-s", "-A", "agent/1", "-e", "http://ref/", "-b", "a=1; b=2", b + "/headers"])
    case(["-s", "-A", "", b + "/headers"])
    case(["-s", "-u", "user:pass", b + "/basic-auth/user/pass"])
    case(["-s", "-u", "user:wrong", "-w", "%{http_code}", b + "/basic-auth/user/pass"])
    case(["-s", b.replace("://", "://user:pass@") + "/basic-auth/user/pass"])
    case(["-s", "-r", "0-9", b + "/range/100"])
    case(["-s", "-b", "k=v", b + "/cookies"])
    # -b FILE, a Netscape cookie file: the host's cookies whose path
    # prefixes the request's, not the secure one over http, not the expired
    # one nor another host's; HttpOnly lines; in curl's order (the longest
    # path first); with a -b string beside it; an unreadable file: none.
    jar = ("# Netscape HTTP Cookie File\n"
           "127.0.0.1\tFALSE\t/\tFALSE\t0\troot\tr\n"
           "127.0.0.1\tFALSE\t/cookies\tFALSE\t0\tdeep\td\n"
           "#HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t0\thttponly\th\n"
           "127.0.0.1\tFALSE\t/\tTRUE\t0\tsecure\ts\n"
           "127.0.0.1\tFALSE\t/\tFALSE\t1000\texpired\te\n"
           "other.example\tFALSE\t/\tFALSE\t0\tother\to\n"
           "127.0.0.1\tFALSE\t/elsewhere\tFALSE\t0\tpath\tp\n").encode()
    case(["-s", "-b", "jar.txt", b + "/cookies"], inputs={"jar.txt": jar})
    case(["-s", "-b", "jar.txt", "-b", "k=v", b + "/headers"], inputs={"jar.txt": jar})
    case(["-s", "-b", "nosuchfile", b + "/cookies"])
    case(["-s", "--compressed", b + "/gzip"])
    case(["-s", "--compressed", b + "/deflate"])
    case(["-s", "--http1.1", b + "/get"])
    port = b.rsplit(":", 1)[1]
    case(["-s", "--resolve", f"fetch.test:{port}:127.0.0.1", f"http://fetch.test:{port}/headers"])


def g_redirects(b):
    case(["-s", b + "/redirect/2"])
    case(["-s", "-L", b + "/redirect/3"])
    case(["-s", "-L", "-w", "%{num_redirects} %{url_effective} %{http_code}", "-o", "/dev/null",
          b + "/absolute-redirect/2"])
    case(["-s", "-L", "-i", "-A", "a", b + "/redirect/2"])
    case(["-sS", "-L", "--max-redirs", "2", b + "/redirect/5"], stderr=True)
    case(["-sS", "-L", "--max-redirs", "0", b + "/redirect/1"], stderr=True)
    case(["-s", "-w", "%{redirect_url}", "-o", "/dev/null", b + "/redirect-to?url=/get"])
    case(["-sS", "-f", b + "/status/404"], stderr=True)
    case(["-f", b + "/status/404"])
    case(["-s", "-f", b + "/get"])
    case(["-sS", "--fail-with-body", b + "/status/418"], stderr=True)
    case(["-s", "-f", "-o", "x", b + "/status/500"])
    case(["-s", b + "/status/404"])


def g_errors(b, raw):
    case(["-sS", "http://nosuch.invalid/"], stderr=True)
    case(["-sS", "http://127.0.0.1:1/"], stderr=True)
    case(["-sS", "foo://x/"], stderr=True)
    case(["-sS", "http://bad host/"])
    case(["-sS", "-m", "0.5", b + "/delay/3"])
    # --connect-timeout: a listener whose accept queue is full (backlog 0,
    # its connections never accepted) drops further SYNs, so a connect to
    # it hangs until the timeout: 28 from both.
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    fillers = []
    for _ in range(3):
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(full.getsockname())
        fillers.append(f)
    time.sleep(0.2)
    case(["-s", "--connect-timeout", "0.5", "http://127.0.0.1:%d/" % full.getsockname()[1]])
    for f in fillers + [full]:
        f.close()
    case(["-sS", raw + "/partial"], stderr=True)
    case(["-sS", raw + "/reset"])
    case(["-sS", raw + "/empty"], stderr=True)
    case(["-sS", raw + "/badchunk"])
    case(["-sS", b + "/get", "-o", "/dev/full"], stderr=True)
    case(["--nosuchoption"], stderr=True)
    case(["-X"], stderr=True)
    case(["-s"])
    case(["-s", "-m", "x", b + "/get"], stderr=True)


def g_tls(b):
    d = os.path.join(TMP, "certs")
    os.mkdir(d)
    make_certs(d)
    port = tls_server(d, False)
    cport = tls_server(d, True)
    ca, cert, key = (os.path.join(d, n) for n in ("ca.pem", "client.pem", "client.key"))
    case(["-s", "--cacert", ca, f"https://localhost:{port}/hello"])
    case(["-s", "--cacert", ca, f"https://127.0.0.1:{port}/hello"])
    case(["-s", f"https://localhost:{port}/hello"])
    case(["-s", "-k", f"https://localhost:{port}/hello"])
    case(["-s", "--cacert", ca, "--resolve", f"other.test:{port}:127.0.0.1", f"https://other.test:{port}/hello"])
    case(["-s", "--cacert", ca, "--resolve", f"localhost:{port}:127.0.0.1", f"https://localhost:{port}/hello"])
    case(["-s", "--cacert", ca, "--cert", cert, "--key", key, f"https://localhost:{cport}/whoami"])
    case(["-s", "--cacert", os.path.join(d, "none.pem"), f"https://localhost:{port}/hello"])


def nghttpd(d, tls):
    """nghttp2's server serving d, h2c or h2 over TLS (d's server.pem), on
    a free port; None if it is not installed."""
    if not os.access("/usr/sbin/nghttpd", os.X_OK):
        return None
    for _ in range(5):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        args = ["/usr/sbin/nghttpd", "-d", d, "--echo-upload"]
        args += [str(port), os.path.join(d, "server.key"), os.path.join(d, "server.pem")] if tls else \
            ["--no-tls", str(port)]
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(500):
            if p.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                SERVERS.append(p)
                return port
            except OSError:
                time.sleep(0.01)
        p.kill()
        p.wait()
    raise RuntimeError("nghttpd did not start")


def g_http2(b):
    d = os.path.join(TMP, "h2")
    os.mkdir(d)
    make_certs(d)
    with open(os.path.join(d, "hello.txt"), "wb") as f:
        f.write(b"hello over h2\n")
    with open(os.path.join(d, "big"), "wb") as f:
        f.write(bytes(i * 7 % 251 for i in range(300000)))
    port, tport = nghttpd(d, False), nghttpd(d, True)
    if port is None:
        print("no nghttpd (nghttp2-server): skipped")
        sys.exit(77)
    h2c, ca = f"http://127.0.0.1:{port}", os.path.join(d, "ca.pem")
    pk = "--http2-prior-knowledge"
    case(["-s", pk, h2c + "/hello.txt"])
    case(["-s", "-i", pk, h2c + "/hello.txt"])
    case(["-s", "-I", pk, h2c + "/hello.txt"])
    case(["-s", "-v", pk, h2c + "/hello.txt"], verbose=True)
    case(["-s", "-o", "out", pk, h2c + "/big"])
    case(["-s", "-w", "%{http_code} %{size_download}\n", pk, h2c + "/missing"])
    case(["-s", "-f", pk, h2c + "/missing"])
    case(["-s", pk, "--data-binary", "@in.body", h2c + "/"], inputs={"in.body": bytes(range(256)) * 400})
    case(["-s", "--http2", "--cacert", ca, f"https://localhost:{tport}/hello.txt"])
    case(["-s", "-i", "--http2", "--cacert", ca, f"https://localhost:{tport}/hello.txt"])
    # Two transfers on one connection (curl 7.88 fails the second over h2c: 16).
    case(["-s", "--http2", "--cacert", ca, "-o", "one", f"https://localhost:{tport}/hello.txt",
          "-o", "two", f"https://localhost:{tport}/big"])
    case(["-s", "--http2", b + "/json"])       # cleartext: HTTP/1.1 (curl's Upgrade is not taken)
    case(["-s", "--http1.1", b + "/json"])


def g_many(b):
    case(["-s", b + "/bytes/10?seed=1", b + "/bytes/10?seed=2", b + "/json"])
    case(["-s", "-o", "one", b + "/bytes/10?seed=1", "-o", "two", b + "/bytes/20?seed=2"])
    case(["-s", "-O", b + "/json", "-O", b + "/html"])
    case(["-s", "-Z", "-o", "a", b + "/delay/0.3", "-o", "b", b + "/bytes/30?seed=3", "-o", "c", b + "/json"])
    case(["-s", "-Z", "--parallel-max", "1", "-o", "a", b + "/json", "-o", "b", b + "/html"])
    case(["-s", "http://127.0.0.1:1/", b + "/json"])
    case(["-s", b + "/json", "http://127.0.0.1:1/"])
    case(["-s", "-f", b + "/status/404", b + "/status/200"])
    case(["-s", "--retry", "1", "--retry-delay", "1", "-w", "%{http_code}\\n", b + "/status/503"])
    case(["--retry", "1", "-s", "-S", "-w", "%{http_code}\\n", b + "/status/200"])


GROUPS = {"output": g_output, "bodies": g_bodies, "headers": g_headers, "redirects": g_redirects,
          "errors": g_errors, "tls": g_tls, "many": g_many, "http2": g_http2}


def main():
    if GROUP not in GROUPS:
        print("groups: " + " ".join(GROUPS))
        return 2
    hb, base = start_httpbin()
    try:
        fn = GROUPS[GROUP]
        fn(base, raw_server()) if GROUP == "errors" else fn(base)
    finally:
        for p in [hb] + SERVERS:
            p.terminate()
            p.wait()
        shutil.rmtree(TMP, ignore_errors=True)
    print(f"{len(failures)} case(s) differ" if failures else "all cases agree")
    return 1 if failures else 0


sys.exit(main())
