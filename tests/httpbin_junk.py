"""weft-httpbin under junk: requests with random queries, bodies, cookies,
ranges, ETags, credentials and malformed multipart bodies, built from a
fixed seed so every run sends the same ones.

Usage: /usr/bin/python3 httpbin_junk.py PATH/TO/weft-httpbin [COUNT]

Every request must get an HTTP answer, none may be the server's own 500
(a handler that failed rather than answered), and the server must still
run afterwards and exit 0 on SIGTERM (under a sanitizer build: with nothing
reported). Exits 1 on the first failure.
"""
import random
import signal
import socket
import subprocess
import sys
import tempfile

ALPHABET = b'%=&;+-_/:"\\ \t,aA0\xff\xc3\xa9=*W/bytes\r\n'
PATHS = [b"/get", b"/post", b"/anything/x", b"/status/", b"/delay/", b"/bytes/", b"/stream-bytes/",
         b"/drip", b"/redirect-to", b"/cookies", b"/cookies/set", b"/basic-auth/u/", b"/etag/",
         b"/range/50", b"/response-headers", b"/base64/", b"/links/3/", b"/cache", b"/redirect/",
         b"/stream/", b"/gzip", b"/deflate"]
# The server's own answer to a handler's error (weft/httpd.h).
HANDLER_FAILED = b"Internal Server Error\n"


def junk(rnd, n):
    return bytes(rnd.choice(ALPHABET) for _ in range(rnd.randint(0, n)))


def token(rnd, n):
    """Junk that a request line or header value may carry."""
    return bytes(c for c in junk(rnd, n) if c > 32 and c != 127) or b"x"


def multipart(rnd, boundary):
    parts = []
    for _ in range(rnd.randint(0, 3)):
        disposition = rnd.choice([
            b'Content-Disposition: form-data; name="' + token(rnd, 5) + b'"',
            b'Content-Disposition: form-data; name=x; filename="' + token(rnd, 5) + b'"',
            junk(rnd, 20)])
        ctype = rnd.choice([b"", b"Content-Type: " + token(rnd, 8) + b"\r\n"])
        parts.append(b"--" + boundary + b"\r\n" + disposition + b"\r\n" + ctype + b"\r\n" + junk(rnd, 30) + b"\r\n")
    return b"".join(parts) + rnd.choice([b"--" + boundary + b"--\r\n", b"", junk(rnd, 10)])


def request(rnd):
    path = rnd.choice(PATHS) + token(rnd, 8).replace(b"?", b"")
    if path.startswith((b"/delay/", b"/drip")):
        path = path + b"?duration=0.01&delay=0"  # junk, but quick
    else:
        path = path + b"?" + token(rnd, 40)
    ctype = rnd.choice([b"multipart/form-data; boundary=" + token(rnd, 10),
                        b'multipart/form-data; boundary="a b"', b"application/x-www-form-urlencoded",
                        b"application/json", b"text/plain"])
    body = junk(rnd, 300)
    if ctype.startswith(b"multipart") and rnd.random() < 0.7:
        body = multipart(rnd, ctype.split(b"boundary=")[1].strip(b'"'))
    head = [b"Host: h", b"Content-Type: " + ctype, b"Content-Length: %d" % len(body), b"Connection: close"]
    for name in (b"Cookie", b"Range", b"If-None-Match", b"If-Match", b"Authorization", b"Origin", b"X_Odd-Name"):
        if rnd.random() < 0.3:
            head.append(name + b": " + token(rnd, 30))
    method = rnd.choice([b"GET", b"POST", b"PUT", b"OPTIONS", b"HEAD", b"DELETE"])
    return method + b" " + path + b" HTTP/1.1\r\n" + b"\r\n".join(head) + b"\r\n\r\n" + body


def exchange(port, req):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(req)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def main():
    signal.alarm(50)
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.argv[1], "--port", "0"], stdout=subprocess.PIPE, stderr=err, text=True)
    problem = None
    try:
        port = int(proc.stdout.readline().rsplit(":", 1)[1])
        rnd = random.Random(20261128)
        for _ in range(count):
            req = request(rnd)
            data = exchange(port, req)
            if not data.startswith(b"HTTP/1.1 "):
                problem = f"no HTTP answer to {req[:300]!r}"
            elif data.split(b"\r\n\r\n", 1)[-1].startswith(HANDLER_FAILED):
                problem = f"a handler failed on {req[:300]!r}"
            if problem:
                break
        if not problem and proc.poll() is not None:
            problem = "the server died"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(15)
    err.seek(0)
    if not problem and code != 0:
        problem = f"exit {code} on SIGTERM: {err.read()[:3000].decode(errors='replace')}"
    print(problem or f"{count} junk requests answered, clean exit")
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main())
