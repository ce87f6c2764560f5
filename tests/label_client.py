# tests/label_client.py — the labelling app's test client (Python standard library only): starts
# `rlhf label serve --port 0` and reads the URL it prints, and sends raw HTTP requests with any
# headers, so the tests can send what a browser never would (wrong Host, no token, huge bodies).
import http.client
import json
import re
import subprocess
import time


class Server:
    def __init__(self, rlhf, db, *args, log=None):
        self.proc = subprocess.Popen([rlhf, "label", "serve", "--db", db, "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=log or subprocess.DEVNULL,
                                     text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"http://([^/ ]+):(\d+)/", line)
        if not m:
            self.proc.kill()
            raise RuntimeError("serve printed no URL: %r" % line)
        self.host, self.port = m.group(1), int(m.group(2))
        self.url = "http://%s:%d/" % (self.host, self.port)

    def stop(self, sig=None):
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
        return self.proc.wait(timeout=20)


class Client:
    """One keep-alive connection; request() returns (status, parsed JSON or text, headers)."""

    def __init__(self, server, token=None, timeout=30):
        self.server, self.token, self.timeout = server, token, timeout
        self.conn = None

    def request(self, method, path, body=None, headers=None, raw=None):
        h = {"Host": "%s:%d" % (self.server.host, self.server.port)}
        if self.token is not None:
            h["Authorization"] = "Bearer " + self.token
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        for attempt in range(2):  # a kept-alive connection the server closed: reconnect once
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.server.host, self.server.port,
                                                       timeout=self.timeout)
            try:
                self.conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                for k, v in h.items():
                    self.conn.putheader(k, v)
                if data is not None and "Content-Length" not in h:
                    self.conn.putheader("Content-Length", str(len(data)))
                self.conn.endheaders(data)
                r = self.conn.getresponse()
                payload = r.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        if r.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        ctype = r.getheader("Content-Type", "")
        out = json.loads(payload) if ctype.startswith("application/json") else payload.decode()
        return r.status, out, dict(r.getheaders())

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


def add_annotator(rlhf, db, name):
    out = subprocess.run([rlhf, "label", "annotator", "add", name, "--db", db], check=True,
                         capture_output=True, text=True).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", out), out
    return out


def wait_until(pred, secs=10.0):
    end = time.time() + secs
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False
