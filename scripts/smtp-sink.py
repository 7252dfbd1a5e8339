#!/usr/bin/python3
"""smtp-sink.py MAILDIR PORT TLS_PORT CERT KEY USER PASSWORD_FILE

A throwaway SMTP server for hrsync's notification tests (Debian's python3-aiosmtpd), on
127.0.0.1 only: STARTTLS *required* on PORT and implicit TLS on TLS_PORT, AUTH (PLAIN/LOGIN)
required on both with USER and the password in PASSWORD_FILE. Every accepted message is written
to MAILDIR/NNNN.json: envelope, whether the session was encrypted, who authenticated, the
message text. Nothing is relayed anywhere. Started and stopped by scripts/start-smtp.sh and
scripts/stop-smtp.sh (by PID).
"""
import email
import email.policy
import json
import os
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

maildir, port, tls_port, cert, key, user, pwfile = sys.argv[1:8]
with open(pwfile, "rb") as f:
    password = f.read().strip()
lock = threading.Lock()


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == user.encode()
        and auth_data.password == password
    )
    # The login is kept so each message records who sent it.
    return AuthResult(success=ok, handled=False, auth_data=auth_data.login.decode() if ok else None)


class Sink:
    def __init__(self, listener):
        self.listener = listener

    async def handle_DATA(self, server, session, envelope):
        with lock:
            n = len([x for x in os.listdir(maildir) if x.endswith(".json")]) + 1
            rec = {
                "listener": self.listener,
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                # Encrypted: STARTTLS done, or a TLS listener (asyncio's transport is TLS).
                "tls": session.ssl is not None
                or server.transport.get_extra_info("ssl_object") is not None,
                "authenticated": bool(session.authenticated),
                "auth_user": session.auth_data,
                "data": envelope.content.decode("utf-8", "replace"),
            }
            # The headers and the text as a reader sees them (transfer encoding undone).
            msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
            body = msg.get_body(preferencelist=("plain",))
            rec.update({
                "subject": str(msg["subject"] or ""),
                "from": str(msg["from"] or ""),
                "to": str(msg["to"] or ""),
                "message_id": str(msg["message-id"] or ""),
                "body": body.get_content() if body is not None else "",
            })
            tmp = os.path.join(maildir, ".%04d.tmp" % n)
            with open(tmp, "w") as f:
                json.dump(rec, f, indent=1)
            os.rename(tmp, os.path.join(maildir, "%04d.json" % n))
        return "250 Message accepted for delivery"


def context():
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


common = dict(auth_required=True, authenticator=authenticator)
starttls = Controller(
    Sink("starttls"), hostname="127.0.0.1", port=int(port),
    tls_context=context(), require_starttls=True, auth_require_tls=True, **common,
)
# aiosmtpd does not see a TLS listener's encryption (asyncio does it), so "AUTH only over TLS"
# is off there: every byte of that listener is encrypted anyway.
implicit = Controller(
    Sink("tls"), hostname="127.0.0.1", port=int(tls_port),
    ssl_context=context(), auth_require_tls=False, **common,
)
starttls.start()
implicit.start()
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: done.set())
signal.signal(signal.SIGINT, lambda *_: done.set())
print("smtp-sink: listening on 127.0.0.1:%s (STARTTLS) and :%s (TLS)" % (port, tls_port), flush=True)
done.wait()
starttls.stop()
implicit.stop()
