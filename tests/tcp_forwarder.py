"""A loopback TCP forwarder for outage tests: put it between a service and its database, then cut it."""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading

_CHUNK = 65536


def _reset(sock: socket.socket) -> None:
    """Close `sock` with a TCP reset (no orderly FIN), as a dropped network path looks to the peer."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class TcpForwarder:
    """Listens on a free loopback port and forwards every connection to `upstream`.

    `cut()` ends every live connection at once (both sides: the database sees its client vanish
    and rolls back, the client sees its server vanish) and answers new connections with a reset
    until `restore()`. Counts what it did, for the test's report.
    """

    def __init__(self, upstream: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.upstream = upstream
        self._server = socket.create_server((host, 0))
        self._server.settimeout(0.1)
        self.host = host
        self.port = int(self._server.getsockname()[1])
        self._lock = threading.Lock()
        self._cut = False
        self._stopped = threading.Event()
        self._live: set[tuple[socket.socket, socket.socket]] = set()
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-forwarder", daemon=True)
        self.connections = 0  # connections forwarded
        self.refused = 0  # connections reset while cut
        self.severed = 0  # live connections ended by cut()

    def start(self) -> TcpForwarder:
        """Start accepting connections."""
        self._thread.start()
        return self

    def cut(self) -> None:
        """Drop every live connection and reset new ones until `restore()`."""
        with self._lock:
            self._cut = True
            live, self._live = self._live, set()
        for client, server in live:
            self.severed += 1
            for sock in (client, server):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the pump, which closes both

    def restore(self) -> None:
        """Forward new connections again."""
        with self._lock:
            self._cut = False

    def stop(self) -> None:
        """Stop accepting, drop every connection and free the port."""
        self._stopped.set()
        self.cut()
        self._thread.join(timeout=5)
        self._server.close()

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                cut = self._cut
            if cut:
                self.refused += 1
                _reset(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _reset(client)
                continue
            client.settimeout(None)
            server.settimeout(None)
            pair = (client, server)
            with self._lock:
                if self._cut:  # cut while connecting
                    self.refused += 1
                    _reset(client)
                    server.close()
                    continue
                self._live.add(pair)
                self.connections += 1
            threading.Thread(target=self._pump, args=(pair,), name="tcp-forwarder-pump", daemon=True).start()

    def _pump(self, pair: tuple[socket.socket, socket.socket]) -> None:
        client, server = pair
        peer = {client: server, server: client}
        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ)
            selector.register(server, selectors.EVENT_READ)
            try:
                while True:
                    for key, _ in selector.select():
                        sock = key.fileobj
                        assert isinstance(sock, socket.socket)
                        data = sock.recv(_CHUNK)
                        if not data:
                            return
                        peer[sock].sendall(data)
            except OSError:
                return
            finally:
                with self._lock:
                    self._live.discard(pair)
                client.close()
                server.close()
