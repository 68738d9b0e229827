# A TCP proxy that holds every chunk DELAY seconds in each direction, so a
# loopback PostgreSQL server answers as one across a network would (a round
# trip about 2 x DELAY longer). For bench/store/net.sh only.
#   python3 bench/store/delay_proxy.py LISTEN_PORT TARGET_PORT DELAY_SECONDS
import socket, sys, threading, time
listen_port, target_port, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            t = time.perf_counter() + delay
            while time.perf_counter() < t:
                time.sleep(0.00005)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try: s.shutdown(socket.SHUT_RDWR)
            except OSError: pass
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", listen_port)); srv.listen(64)
while True:
    c, _ = srv.accept()
    u = socket.create_connection(("127.0.0.1", target_port))
    for s in (c, u): s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    threading.Thread(target=pump, args=(c, u), daemon=True).start()
    threading.Thread(target=pump, args=(u, c), daemon=True).start()
