"""Opens N keep-alive connections to 127.0.0.1:PORT, sends one request on
each and reads its response, then holds them idle until killed."""
import resource
import socket
import sys
import time

port, n, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
req = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
conns = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    conns.append(s)
for s in conns:
    got = b""
    while b"hello world\n" not in got:
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
open(ready, "w").write("ready")
while True:
    time.sleep(60)
