"""An https callback connects to the address that was checked and still verifies the certificate
against the host name (a real TLS server on loopback, with a throwaway certificate)."""

from __future__ import annotations

import http.server
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3

from worker.callbacks.posting import post
from worker.enqueue.callback_url import check


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path, list[str]]]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is needed to make the test certificate (apt-get install openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    hosts: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            hosts.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], cert, hosts
    finally:
        server.shutdown()
        server.server_close()


def test_an_untrusted_certificate_is_refused(tls_server: tuple[int, Path, list[str]]) -> None:
    port, _, hosts = tls_server
    target = check(f"https://localhost:{port}/hook", allow_private=True)
    with pytest.raises(urllib3.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        post(target, b"{}", {"Host": f"localhost:{port}"})
    assert hosts == []


def test_a_trusted_certificate_for_the_host_name_is_accepted(
        tls_server: tuple[int, Path, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Connected to 127.0.0.1 (the checked address), verified as `localhost` (the URL's host)."""
    port, cert, hosts = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # what the default context trusts
    target = check(f"https://localhost:{port}/hook", allow_private=True)
    assert "127.0.0.1" in target.addresses
    assert post(target, b"{}", {"Host": f"localhost:{port}"}) == 204
    assert hosts == [f"localhost:{port}"]
