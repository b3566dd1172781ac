"""An SMTP relay for the TLS tests: aiosmtpd speaking TLS, either after STARTTLS (required before
anything else) or from the first byte (MODE smtps), then requiring AUTH (PLAIN or LOGIN) as
USER/PASSWORD before mail; each message it accepts is written whole to DIR/<n>.eml. Prints
"ready" once it listens; runs until killed.

    python3 tls_relay.py PORT CERT KEY USER PASSWORD DIR starttls|smtps
"""

import asyncio
import pathlib
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

port, cert, key, user, password, out, mode = sys.argv[1:8]
out = pathlib.Path(out)
out.mkdir(parents=True, exist_ok=True)


class Keep:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        (out / f"{self.count}.eml").write_bytes(envelope.original_content or envelope.content)
        return "250 kept"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login.decode() == user and auth_data.password.decode() == password
    return AuthResult(success=ok)


context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
if mode == "smtps":
    # aiosmtpd counts only STARTTLS as TLS when deciding whether to offer AUTH; this connection
    # is TLS from its first byte.
    tls = {"ssl_context": context, "auth_require_tls": False}
else:
    tls = {"tls_context": context, "require_starttls": True}
controller = Controller(
    Keep(),
    hostname="127.0.0.1",
    port=int(port),
    auth_required=True,
    authenticator=authenticate,
    **tls,
)
controller.start()
print("ready", flush=True)
asyncio.new_event_loop().run_forever()
