"""An SMTP server for the tests of the `smtp` channel (tests/it/smtp.rs), on 127.0.0.1.

It requires STARTTLS (or speaks TLS from the first byte with --implicit) and AUTH, and writes
every accepted message to OUT/<n>.eml with its envelope in OUT/<n>.json. Faults on request:
--fail-first N answers 451 to the first N DATA of each Message-ID, --slow-first S waits S
seconds before answering the first DATA of each (and then takes it), --reject TEXT answers 550
to recipients containing TEXT. Every DATA answered is a line in OUT/attempts.log. It prints
`PORT <n>` once listening, and stops when its stdin closes or after --lifetime seconds.
"""

import argparse
import asyncio
import json
import os
import re
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Handler:
    def __init__(self, args):
        self.args = args
        self.seen = {}
        self.count = 0

    def log(self, line):
        with open(os.path.join(self.args.out, "attempts.log"), "a") as f:
            f.write(line + "\n")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.args.reject and self.args.reject in address:
            return "550 5.1.1 <%s>: no such user here" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or b""
        found = re.search(rb"^Message-ID:\s*(\S+)", content, re.MULTILINE | re.IGNORECASE)
        message_id = found.group(1).decode() if found else ""
        tries = self.seen.get(message_id, 0) + 1
        self.seen[message_id] = tries
        if tries <= self.args.fail_first:
            self.log("451 %s" % message_id)
            return "451 4.3.0 try again later"
        if tries == 1 and self.args.slow_first:
            self.log("slow %s" % message_id)
            await asyncio.sleep(self.args.slow_first)
        self.count += 1
        base = os.path.join(self.args.out, str(self.count))
        meta = {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos, "tls": getattr(session, "ssl", None) is not None}
        for suffix, data in ((".eml", content), (".json", json.dumps(meta).encode())):
            with open(base + suffix + ".tmp", "wb") as f:
                f.write(data)
            os.rename(base + suffix + ".tmp", base + suffix)
        self.log("250 %s" % message_id)
        return "250 2.0.0 Ok: queued as Q%d" % self.count


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False)

    return check


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--implicit", action="store_true")
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--slow-first", type=float, default=0)
    parser.add_argument("--reject", default="")
    parser.add_argument("--lifetime", type=float, default=120)
    args = parser.parse_args()

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    handler = Handler(args)

    def factory():
        return SMTP(
            handler,
            hostname="herald-test",
            tls_context=None if args.implicit else context,
            require_starttls=not args.implicit,
            authenticator=authenticator(args.user, args.password),
            auth_required=True,
            # With --implicit the whole connection is TLS; aiosmtpd only knows of STARTTLS.
            auth_require_tls=not args.implicit,
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        factory, "127.0.0.1", 0, ssl=context if args.implicit else None
    )
    port = server.sockets[0].getsockname()[1]
    print("PORT %d" % port, flush=True)
    closed = loop.create_future()
    loop.add_reader(sys.stdin.fileno(), lambda: closed.done() or (sys.stdin.buffer.read1(1 << 16) or closed.set_result(None)))
    try:
        await asyncio.wait_for(closed, args.lifetime)
    except asyncio.TimeoutError:
        pass
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
