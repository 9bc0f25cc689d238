"""Compares weft-httpbin with python3-httpbin, request by request.

Usage: /usr/bin/python3 httpbin_compare.py PATH/TO/weft-httpbin

Starts both servers on free loopback ports, sends each case below to both
with httpx, and compares what a client acts on: the status, the headers in
HEADERS, and the body -- parsed JSON for JSON answers (the reference's
host:port rewritten to weft-httpbin's, values that are random by design
checked for shape only), bytes for the deterministic bodies. Prints every
mismatch as a diff and exits 1 if there was one. Bounded: an alarm ends the
run after 50 s.
"""
import concurrent.futures
import difflib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx

HEADERS = ["content-type", "content-encoding", "location", "access-control-allow-origin",
           "access-control-allow-credentials", "access-control-allow-methods",
           "access-control-max-age", "access-control-allow-headers", "www-authenticate",
           "x-more-info"]

MULTIPART = {"files": {"up": ("a.txt", b"file text\n", "text/plain"),
                       "bin": ("b.bin", b"\x00\xff\xfe binary", "application/x-thing")},
             "data": {"field": ["one", "two"], "single": "x y"}}

# (name, method, path, options): options are httpx request arguments, plus
# "body": how to compare the body ("json", "bytes", "len", "lines", "none"),
# "random": JSON keys whose values are random (compared by type).
CASES = [
    ("get args", "GET", "/get?a=1&a=2&b=&c=x+y%20z&d=%C3%A9%ff", {}),
    ("get url iri", "GET", "/anything/%41%20b/%C3%A9:@?q=%2f%41%7e&u=http://x/y%3F", {}),
    ("get headers", "GET", "/get", {"headers": [("X-Foo", "1"), ("X-Foo", "2"), ("X-My_Head", "q"),
                                                ("x-123abc", "v"), ("User-Agent", "compare/1")]}),
    ("get forwarded", "GET", "/get", {"headers": {"X-Forwarded-For": "10.1.2.3", "Via": "1.1 p"}}),
    ("get show_env", "GET", "/get?show_env=1", {"headers": {"X-Forwarded-For": "10.1.2.3"}}),
    ("get forwarded proto", "GET", "/get", {"headers": {"X-Forwarded-Proto": "https"}}),
    ("get cors origin", "GET", "/get", {"headers": {"Origin": "http://example.org"}}),
    ("get 405", "POST", "/get", {"body": "none"}),
    ("get trailing slash 404", "GET", "/get/", {"body": "none"}),
    ("head get", "HEAD", "/get", {"body": "none"}),
    ("options preflight", "OPTIONS", "/post", {"body": "none", "headers": {
        "Origin": "http://a.example", "Access-Control-Request-Headers": "X-Custom"}}),
    ("post form", "POST", "/post?q=1", {"data": {"a": ["1", "3"], "b": "2 & 3", "é": "ü"}}),
    ("post json", "POST", "/post", {"json": {"k": [1, 2.5, None, True, "s"], "n": {"x": "y"}}}),
    ("post text", "POST", "/post", {"content": "plain text body", "headers": {"Content-Type": "text/plain"}}),
    ("post binary", "POST", "/post", {"content": b"\x00\x01\xfe\xff"}),
    ("post json scalar", "POST", "/post", {"content": "42"}),
    ("post bad json", "POST", "/post", {"content": "{nope", "headers": {"Content-Type": "application/json"}}),
    ("post multipart", "POST", "/post", MULTIPART),
    ("post empty", "POST", "/post", {}),
    ("put", "PUT", "/put", {"json": {"put": 1}}),
    ("patch", "PATCH", "/patch", {"data": {"p": "1"}}),
    ("delete", "DELETE", "/delete?x=y", {}),
    ("delete 405", "GET", "/delete", {"body": "none"}),
    ("anything", "GET", "/anything", {}),
    ("anything path", "POST", "/anything/a/b%20c/d?x=1", {"json": [1, 2]}),
    ("anything delete", "DELETE", "/anything/x", {"content": "bye"}),
    ("headers", "GET", "/headers", {"headers": {"X-Thing": "t"}}),
    ("ip", "GET", "/ip", {}),
    ("user-agent", "GET", "/user-agent", {"headers": {"User-Agent": "agent/9"}}),
    ("uuid", "GET", "/uuid", {"random": ["uuid"]}),
    ("status 200", "GET", "/status/200", {"body": "bytes"}),
    ("status 201 post", "POST", "/status/201", {"body": "bytes"}),
    ("status 204", "GET", "/status/204", {"body": "bytes"}),
    ("status 302", "GET", "/status/302", {"body": "bytes"}),
    ("status 307", "GET", "/status/307", {"body": "bytes"}),
    ("status 304", "GET", "/status/304", {"body": "bytes"}),
    ("status 401", "GET", "/status/401", {"body": "bytes"}),
    ("status 402", "GET", "/status/402", {"body": "bytes"}),
    ("status 404", "GET", "/status/404", {"body": "bytes"}),
    ("status 406", "GET", "/status/406", {}),
    ("status 418", "GET", "/status/418", {"body": "bytes"}),
    ("status 503", "GET", "/status/503", {"body": "bytes"}),
    ("status weighted", "GET", "/status/201:0,202:1,203:0", {"body": "bytes"}),
    ("status invalid", "GET", "/status/abc", {"body": "bytes"}),
    ("status invalid list", "GET", "/status/200,x", {"body": "bytes"}),
    ("bytes seeded", "GET", "/bytes/1000?seed=42", {"body": "bytes"}),
    ("bytes seed case", "GET", "/bytes/64?SEED=7", {"body": "bytes"}),
    ("bytes random", "GET", "/bytes/200", {"body": "len"}),
    ("bytes cap", "GET", "/bytes/200000?seed=1", {"body": "bytes"}),
    ("stream-bytes", "GET", "/stream-bytes/3000?seed=5&chunk_size=7", {"body": "bytes"}),
    ("stream-bytes random", "GET", "/stream-bytes/100", {"body": "len"}),
    ("stream", "GET", "/stream/3?x=1", {"body": "lines"}),
    ("stream cap", "GET", "/stream/150", {"body": "lines"}),
    ("gzip", "GET", "/gzip", {}),
    ("deflate", "GET", "/deflate", {}),
    ("drip", "GET", "/drip?numbytes=5&duration=0.3&code=201", {"body": "bytes"}),
    ("drip delay", "GET", "/drip?numbytes=3&duration=0.1&delay=0.2", {"body": "bytes"}),
    ("drip zero", "GET", "/drip?numbytes=0", {"body": "bytes"}),
    ("drip bad", "GET", "/drip?duration=x", {"body": "none"}),
    ("redirect 3", "GET", "/redirect/3", {"body": "bytes"}),
    ("redirect 1", "GET", "/redirect/1", {"body": "bytes"}),
    ("redirect absolute", "GET", "/redirect/2?absolute=true", {"body": "bytes"}),
    ("redirect absolute 1", "GET", "/redirect/1?absolute=True", {"body": "bytes"}),
    ("redirect 0", "GET", "/redirect/0", {"body": "none"}),
    ("redirect not int", "GET", "/redirect/x", {"body": "none"}),
    ("relative-redirect", "GET", "/relative-redirect/2", {"body": "bytes"}),
    ("relative-redirect 1", "GET", "/relative-redirect/1", {"body": "bytes"}),
    ("absolute-redirect", "GET", "/absolute-redirect/4", {"body": "bytes"}),
    ("absolute-redirect 1", "GET", "/absolute-redirect/1", {"body": "bytes"}),
    ("redirect-to", "GET", "/redirect-to?url=http%3A%2F%2Fexample.com%2Fa%3Fb%3Dc&status_code=307", {"body": "bytes"}),
    ("redirect-to relative", "POST", "/redirect-to?URL=/get", {"body": "bytes"}),
    ("redirect-to not 3xx", "GET", "/redirect-to?url=/x&status_code=200", {"body": "bytes"}),
    ("redirect-to no url", "GET", "/redirect-to", {"body": "none"}),
    ("delay bad", "GET", "/delay/abc", {"body": "none"}),
    ("delay negative", "GET", "/delay/-1", {"body": "none"}),
    ("delay 405", "POST", "/delay/1", {"body": "none"}),
    ("html", "GET", "/html", {"body": "bytes"}),
    ("robots", "GET", "/robots.txt", {"body": "bytes"}),
    ("not found", "GET", "/no/such/page", {"body": "none"}),
    ("double slash", "GET", "//get?x=1", {}),
    ("anything slash", "GET", "/anything/", {"body": "none"}),
    ("encoded route", "GET", "/status/%32%30%31", {"body": "bytes"}),
    ("int with sign", "GET", "/bytes/+5", {"body": "none"}),
    ("stream 0", "GET", "/stream/0", {"body": "lines"}),
    ("base64", "GET", "/base64/SGVsbG8sIHdlZnQh", {"body": "bytes"}),
    ("base64 urlsafe", "GET", "/base64/w6k-Pz8_", {"body": "bytes"}),
    ("base64 bad", "GET", "/base64/SGVsbG8", {"body": "none"}),
    ("basic-auth ok", "GET", "/basic-auth/user/pa%20ss", {"auth": ("user", "pa ss")}),
    ("basic-auth wrong", "GET", "/basic-auth/user/pass", {"auth": ("user", "nope"), "body": "bytes"}),
    ("basic-auth none", "GET", "/basic-auth/user/pass", {"body": "bytes"}),
    ("hidden-basic-auth", "GET", "/hidden-basic-auth/u/p", {"body": "bytes"}),
    ("hidden-basic-auth ok", "GET", "/hidden-basic-auth/u/p", {"auth": ("u", "p")}),
    ("bearer none", "GET", "/bearer", {"body": "bytes"}),
    ("bearer", "GET", "/bearer", {"headers": {"Authorization": "Bearer abc.def"}}),
    ("cookies", "GET", "/cookies", {"headers": {"Cookie": 'a=1; b="x y"; c=; __utma=5; a=2; d="a\\"b"; e=%41'}}),
    ("cookies show_env", "GET", "/cookies?show_env=1", {"headers": {"Cookie": "__utma=5; k=v"}}),
    ("cookies set", "GET", "/cookies/set?a=1&b=x%20y&c=%22q%22&d=%C3%A9&e=a;b&f=&a=2", {"body": "bytes", "cookies": True}),
    ("cookies set path", "GET", "/cookies/set/n/v", {"body": "bytes", "cookies": True}),
    ("cookies delete", "GET", "/cookies/delete?a&b=1", {"body": "bytes", "cookies": True}),
    ("cache", "GET", "/cache", {"cache": True}),
    ("cache conditional", "GET", "/cache", {"headers": {"If-None-Match": "x"}, "body": "bytes"}),
    ("cache modified", "GET", "/cache", {"headers": {"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}, "body": "bytes"}),
    ("cache n", "GET", "/cache/60", {"cache": True}),
    ("etag", "GET", "/etag/abc", {"cache": True}),
    ("etag none-match", "GET", "/etag/abc", {"headers": {"If-None-Match": '"x", W/"abc"'}, "body": "bytes", "cache": True}),
    ("etag none-match star", "GET", "/etag/abc", {"headers": {"If-None-Match": "*"}, "body": "bytes", "cache": True}),
    ("etag none-match miss", "GET", "/etag/abc", {"headers": {"If-None-Match": '"x"'}, "cache": True}),
    ("etag match fail", "GET", "/etag/abc", {"headers": {"If-Match": '"x"'}, "body": "bytes", "cache": True}),
    ("etag match", "GET", "/etag/abc", {"headers": {"If-Match": '"abc"'}, "cache": True}),
    ("response-headers", "GET", "/response-headers?X-A=1&X-A=2&b=c&freeform=a%20b", {"rh": True}),
    ("response-headers post", "POST", "/response-headers", {"rh": True}),
    ("range whole", "GET", "/range/30", {"body": "bytes", "rh": True}),
    ("range part", "GET", "/range/30", {"headers": {"Range": "bytes=5-12"}, "body": "bytes", "rh": True}),
    ("range suffix", "GET", "/range/30", {"headers": {"Range": "bytes=-4"}, "body": "bytes", "rh": True}),
    ("range open", "GET", "/range/30?chunk_size=7", {"headers": {"Range": "bytes=20-"}, "body": "bytes", "rh": True}),
    ("range out", "GET", "/range/30", {"headers": {"Range": "bytes=40-50"}, "body": "bytes", "rh": True}),
    ("range junk", "GET", "/range/30", {"headers": {"Range": "bytes=x-y"}, "body": "bytes", "rh": True}),
    ("range zero", "GET", "/range/0", {"body": "bytes", "rh": True}),
    ("range too big", "GET", "/range/200000", {"body": "bytes", "rh": True}),
    ("links", "GET", "/links/5/2", {"body": "bytes"}),
    ("links cap", "GET", "/links/500/0", {"body": "bytes"}),
    ("links redirect", "GET", "/links/3", {"body": "bytes"}),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_reference():
    port = free_port()
    proc = subprocess.Popen(["/usr/bin/python3", "-m", "httpbin.core", "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(base + "/get", timeout=1)
            return proc, base
        except httpx.HTTPError:
            if proc.poll() is not None:
                sys.exit("python3-httpbin exited at start")
            time.sleep(0.05)
    sys.exit("python3-httpbin did not answer")


def start_weft(binary):
    proc = subprocess.Popen([binary, "--port", "0"], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)\n", line)
    if not m:
        sys.exit(f"weft-httpbin's first line is not 'listening on URL': {line!r}")
    return proc, m.group(1)


def rewrite(value, old, new):
    """The reference's answer with its host:port replaced by weft-httpbin's."""
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [rewrite(v, old, new) for v in value]
    if isinstance(value, dict):
        return {rewrite(k, old, new): rewrite(v, old, new) for k, v in value.items()}
    return value


def fetch(client, base, method, path, opts):
    opts = {k: v for k, v in opts.items() if k not in ("body", "random", "cookies", "cache", "rh")}
    return client.request(method, base + path, **opts)


def scrub(doc):
    """The multipart boundary, random per request, made constant."""
    if isinstance(doc, dict):
        return {k: scrub(v) for k, v in doc.items()}
    if isinstance(doc, str):
        return re.sub(r"boundary=[0-9a-f]+", "boundary=B", doc)
    return doc


def header_view(resp, old, new):
    return {h: rewrite(resp.headers.get(h), old, new) for h in HEADERS}


def body_view(resp, how, random_keys, old, new):
    if how == "none":
        return None
    if how == "bytes":
        return rewrite(resp.content.decode("latin-1"), old, new)
    if how == "len":
        return len(resp.content)
    if how == "lines":
        try:
            lines = [json.loads(l) for l in resp.text.splitlines()]
        except ValueError:
            return f"not JSON lines: {resp.content[:300]!r}"
        return rewrite(lines, old, new)
    try:
        doc = rewrite(resp.json(), old, new)
    except ValueError:
        return f"not JSON: {resp.content[:300]!r}"
    for k in random_keys:
        doc[k] = type(doc[k]).__name__
    return scrub(doc)


def compare(name, ref, got, old, new, opts):
    """Mismatches between the two answers, as text lines."""
    how, random_keys = opts.get("body", "json"), opts.get("random", [])
    a = {"status": ref.status_code, "headers": header_view(ref, old, new),
         "body": body_view(ref, how, random_keys, old, new)}
    b = {"status": got.status_code, "headers": header_view(got, new, new),
         "body": body_view(got, how, random_keys, new, new)}
    if opts.get("cookies"):
        a["set-cookie"] = ref.headers.get_list("set-cookie")
        b["set-cookie"] = got.headers.get_list("set-cookie")
    if opts.get("cache"):
        for h in ("etag", "cache-control"):
            a[h], b[h] = ref.headers.get(h), got.headers.get(h)
        a["last-modified"] = re.sub(r"\d", "9", ref.headers.get("last-modified", ""))
        b["last-modified"] = re.sub(r"\d", "9", got.headers.get("last-modified", ""))
        if ref.request.url.path == "/cache" and ref.status_code == 200:
            a["etag"] = bool(re.fullmatch("[0-9a-f]{32}", ref.headers["etag"]))
            b["etag"] = bool(re.fullmatch("[0-9a-f]{32}", got.headers.get("etag", "")))
    if opts.get("rh"):
        for r, view in ((ref, a), (got, b)):
            view["response headers"] = sorted((k, v) for k, v in r.headers.multi_items()
                                              if k not in ("date", "server", "connection"))
    if ref.status_code == 405 or ref.request.method == "OPTIONS":
        a["allow"] = sorted((ref.headers.get("allow") or "").split(", "))
        b["allow"] = sorted((got.headers.get("allow") or "").split(", "))
    if a == b:
        return []
    ta = json.dumps(a, indent=1, sort_keys=True).splitlines()
    tb = json.dumps(b, indent=1, sort_keys=True).splitlines()
    return [f"--- {name}: python3-httpbin vs weft-httpbin"] + list(
        difflib.unified_diff(ta, tb, "python3-httpbin", "weft-httpbin", lineterm="", n=2))


def check_concurrent_delays(base):
    """Two /delay/1 at once end together, in about one second."""
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        rs = list(pool.map(lambda _: httpx.get(base + "/delay/1?d=1", timeout=10), range(2)))
    took = time.monotonic() - start
    problems = []
    if any(r.status_code != 200 or r.json()["args"] != {"d": "1"} for r in rs):
        problems.append("/delay/1 did not answer 200 with its args")
    if not 0.95 <= took < 1.9:
        problems.append(f"two concurrent /delay/1 took {took:.2f}s, not about 1s")
    return problems


def check_json(base):
    """/json (which python3-httpbin 0.7.0 lacks): httpbin.org's slideshow."""
    r = httpx.get(base + "/json")
    doc = r.json() if r.status_code == 200 else {}
    ok = (r.headers.get("content-type") == "application/json"
          and doc.get("slideshow", {}).get("title") == "Sample Slide Show"
          and len(doc["slideshow"].get("slides", [])) == 2)
    return [] if ok else [f"/json: {r.status_code} {r.text[:200]!r}"]


def out_of_time(signum, frame):
    raise TimeoutError("the comparison took more than 50 s")


def main():
    # An exception, not the default action, so that the servers are killed.
    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(50)
    ref_proc, ref = start_reference()
    weft_proc = None
    try:
        weft_proc, weft = start_weft(sys.argv[1])
        old, new = ref.split("//")[1], weft.split("//")[1]
        problems = []
        with httpx.Client(timeout=10) as client:
            for name, method, path, opts in CASES:
                ref_resp = fetch(client, ref, method, path, opts)
                got_resp = fetch(client, weft, method, path, opts)
                problems += compare(name, ref_resp, got_resp, old, new, opts)
        problems += check_concurrent_delays(weft)
        problems += check_json(weft)
        weft_proc.send_signal(signal.SIGTERM)
        if weft_proc.wait(timeout=15) != 0:
            problems.append(f"weft-httpbin exited {weft_proc.returncode} on SIGTERM")
    finally:
        for p in (ref_proc, weft_proc):
            if p and p.poll() is None:
                p.kill()
                p.wait()
    for line in problems:
        print(line)
    print(f"{len(CASES)} cases compared, {'mismatches found' if problems else 'all match'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
