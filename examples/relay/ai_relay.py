#!/usr/bin/env python3
"""A relay from herald's `webhook` channel to an AI calling provider (Vapi, Retell or Bland).

herald POSTs each `call` action as JSON, signed per Standard Webhooks. This relay checks the
signature, turns the action into the provider's create-call request (with herald's key in the
call's metadata, so that the end-of-call report finds its lead), and answers herald:

  2xx {"id": <provider call id>}  the provider took the call
  429 / 5xx                      the provider (or the relay) could not take it now: herald
                                 retries later with the same key
  4xx                            refused (bad signature, not a call, the provider said no)

A retry with a key already relayed does not place a second call: the relay keeps the keys it
relayed in a small append-only file and answers the first call's id again.

Python 3 standard library only. Configuration is by environment; see docs/calling-providers.md.
"""

import base64
import hashlib
import hmac
import json
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROVIDERS = {
    "vapi": "https://api.vapi.ai",
    "retell": "https://api.retellai.com",
    "bland": "https://api.bland.ai",
}
PATHS = {"vapi": "/call", "retell": "/v2/create-phone-call", "bland": "/v1/calls"}
MAX_BODY = 1 << 20


class ConfigError(Exception):
    pass


def env(name, default=None, required=False):
    value = os.environ.get(name, "").strip()
    if not value:
        if required:
            raise ConfigError(f"environment variable {name} is not set")
        return default
    return value


class Config:
    """Everything the relay reads from its environment, checked once at start."""

    def __init__(self):
        self.provider = env("RELAY_PROVIDER", required=True).lower()
        if self.provider not in PROVIDERS:
            raise ConfigError(f"RELAY_PROVIDER must be one of {', '.join(PROVIDERS)}, not {self.provider!r}")
        secret = env("RELAY_SECRET", required=True)
        self.key = webhook_key(secret)
        self.api_key = env("RELAY_API_KEY", required=True)
        self.api_base = env("RELAY_API_BASE", PROVIDERS[self.provider]).rstrip("/")
        self.host = env("RELAY_HOST", "127.0.0.1")
        self.port = int(env("RELAY_PORT", "8787"))
        self.state = env("RELAY_STATE", "ai_relay_keys.jsonl")
        self.timeout = float(env("RELAY_TIMEOUT", "30"))
        self.tolerance = int(env("RELAY_TOLERANCE", "300"))
        # herald's `agent` names mapped to the provider's ids: {"sdr-qualifier": "asst_..."}.
        agents = env("RELAY_AGENTS", "{}")
        try:
            self.agents = json.loads(agents)
        except ValueError:
            raise ConfigError("RELAY_AGENTS must be a JSON object of agent name -> provider id")
        if not isinstance(self.agents, dict):
            raise ConfigError("RELAY_AGENTS must be a JSON object of agent name -> provider id")
        self.callback = env("RELAY_CALLBACK_URL")
        if self.provider == "vapi":
            self.default_agent = env("VAPI_ASSISTANT_ID")
            self.phone_number_id = env("VAPI_PHONE_NUMBER_ID", required=True)
            # The Vapi credential (X-Vapi-Secret, bearer or HMAC) herald's /calls/vapi checks.
            self.credential_id = env("VAPI_CREDENTIAL_ID")
            if not self.default_agent and not self.agents:
                raise ConfigError("set VAPI_ASSISTANT_ID (or RELAY_AGENTS): Vapi needs an assistant")
        elif self.provider == "retell":
            self.default_agent = env("RETELL_AGENT_ID")
            self.from_number = env("RETELL_FROM_NUMBER")
        else:
            self.default_agent = env("BLAND_PATHWAY_ID")
            self.from_number = env("BLAND_FROM")
            self.voice = env("BLAND_VOICE")


def webhook_key(secret):
    """The HMAC key of a `whsec_<base64>` secret (Standard Webhooks)."""
    raw = secret[len("whsec_"):] if secret.startswith("whsec_") else secret
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        raise ConfigError("RELAY_SECRET must be whsec_ followed by base64, as herald's channel secret")


def verify(key, headers, body, tolerance, now=None):
    """None when the Standard Webhooks signature holds, else why not (no secret in it)."""
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not msg_id or not stamp or not signatures:
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    try:
        stamp_value = int(stamp)
    except ValueError:
        return "webhook-timestamp is not a number"
    now = int(time.time()) if now is None else now
    if abs(now - stamp_value) > tolerance:
        return f"webhook-timestamp is {now - stamp_value}s away from now (more than {tolerance}s)"
    signed = msg_id.encode() + b"." + stamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for part in signatures.split():
        version, _, value = part.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return None
    return "no valid v1 signature"


def agent_id(config, action):
    """The provider's agent for this action: `agent` looked up in RELAY_AGENTS, else the default."""
    name = action.get("agent")
    if name and name in config.agents:
        return config.agents[name]
    return config.default_agent


def variables(action):
    """What the agent's prompt can refer to: herald's prompt and where the call comes from."""
    values = {"prompt": action.get("prompt") or "", "herald_key": action["key"]}
    for name in ("campaign", "contact", "step", "variant"):
        if action.get(name) is not None:
            values[name] = str(action[name])
    return values


def callback_url(config, action):
    """Where the provider should send its end-of-call report: herald's `/calls/<provider>`."""
    if config.callback:
        return config.callback
    generic = action.get("callback_url")
    if generic and generic.endswith("/calls/generic"):
        return generic[: -len("generic")] + config.provider
    return None


def request_for(config, action):
    """(path, headers, body) of the provider's create-call request for one herald call action."""
    key = action["key"]
    agent = agent_id(config, action)
    hook = callback_url(config, action)
    if config.provider == "vapi":
        overrides = {"variableValues": variables(action), "metadata": {"herald_key": key}}
        if hook:
            overrides["server"] = {"url": hook}
            if config.credential_id:
                overrides["server"]["credentialId"] = config.credential_id
        body = {
            "assistantId": agent,
            "phoneNumberId": config.phone_number_id,
            "customer": {"number": action["to"]},
            "assistantOverrides": overrides,
        }
        headers = {"Authorization": f"Bearer {config.api_key}"}
    elif config.provider == "retell":
        from_number = action.get("from") or config.from_number
        if not from_number:
            raise ValueError("Retell needs a caller number: the step's `from` or RETELL_FROM_NUMBER")
        body = {
            "from_number": from_number,
            "to_number": action["to"],
            "metadata": {"herald_key": key},
            "retell_llm_dynamic_variables": variables(action),
        }
        if agent:
            body["override_agent_id"] = agent
        headers = {"Authorization": f"Bearer {config.api_key}"}
    else:
        body = {"phone_number": action["to"], "metadata": {"herald_key": key}}
        if agent:
            body["pathway_id"] = agent
            body["request_data"] = variables(action)
        else:
            body["task"] = action.get("prompt") or ""
        from_number = action.get("from") or config.from_number
        if from_number:
            body["from"] = from_number
        if config.voice:
            body["voice"] = config.voice
        if hook:
            body["webhook"] = hook
        headers = {"authorization": config.api_key}
    if config.provider == "vapi" and not agent:
        raise ValueError(f"no Vapi assistant for agent {action.get('agent')!r}: set RELAY_AGENTS or VAPI_ASSISTANT_ID")
    return PATHS[config.provider], headers, body


class Keys:
    """herald keys already relayed, in an append-only JSON-lines file (the last line of a key wins).

    `pending` is written before the provider is asked, so that a relay that dies mid-request
    leaves a trace: that key's outcome is unknown, and the relay refuses to call again.
    """

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.entries = {}
        self.in_flight = set()
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    try:
                        entry = json.loads(line)
                        self.entries[entry["key"]] = entry
                    except (ValueError, KeyError, TypeError):
                        continue  # a line cut short by a crash
        for entry in self.entries.values():
            if entry.get("state") == "pending":
                entry["state"] = "unknown"
        self.file = open(path, "a", encoding="utf-8")

    def claim(self, key):
        """(None, None) when this request may call; else (state, entry) of the earlier one."""
        with self.lock:
            if key in self.in_flight:
                return "in_flight", None
            entry = self.entries.get(key)
            if entry and entry.get("state") in ("placed", "unknown"):
                return entry["state"], entry
            self.in_flight.add(key)
            self._write({"key": key, "state": "pending", "at": int(time.time())})
            return None, None

    def settle(self, key, state, call_id=None):
        """`placed` (with the call id), `unknown` (maybe placed) or `free` (not placed)."""
        with self.lock:
            self.in_flight.discard(key)
            self._write({"key": key, "state": state, "id": call_id, "at": int(time.time())})

    def _write(self, entry):
        self.entries[entry["key"]] = entry
        self.file.write(json.dumps(entry) + "\n")
        self.file.flush()
        os.fsync(self.file.fileno())


def call_provider(config, path, headers, body):
    """(status, parsed JSON or None, text, retry_after) of the provider's answer.

    status 0: not sent (connection refused, DNS); -1: sent, no answer in time (maybe placed).
    """
    data = json.dumps(body).encode()
    request = urllib.request.Request(config.api_base + path, data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=config.timeout) as response:
            status, text, retry = response.status, response.read(MAX_BODY).decode("utf-8", "replace"), None
    except urllib.error.HTTPError as error:
        status = error.code
        text = error.read(MAX_BODY).decode("utf-8", "replace")
        retry = error.headers.get("Retry-After")
    except (socket.timeout, TimeoutError):
        return -1, None, "no answer in time", None
    except urllib.error.URLError as error:
        if isinstance(error.reason, (ConnectionRefusedError, socket.gaierror)):
            return 0, None, "cannot be reached", None
        if isinstance(error.reason, (socket.timeout, TimeoutError)):
            return -1, None, "no answer in time", None
        return -1, None, "the connection broke", None
    except (ConnectionError, OSError):
        return -1, None, "the connection broke", None
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    return status, parsed, text, retry


def provider_call_id(parsed):
    if isinstance(parsed, dict):
        for name in ("id", "call_id"):
            if isinstance(parsed.get(name), str):
                return parsed[name]
    return None


def excerpt(text, limit=200):
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit] + "…"


def log(message):
    print(f"relay: {message}", file=sys.stderr, flush=True)


class Handler(BaseHTTPRequestHandler):
    server_version = "herald-ai-relay"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # one line per call is logged by `relay`, not per request
        pass

    def answer(self, status, payload, retry_after=None):
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if retry_after:
                self.send_header("Retry-After", str(retry_after))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # herald gave up waiting; it retries with the same key and gets the same answer

    def do_POST(self):
        config, keys = self.server.config, self.server.keys
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True  # the body is left unread
            return self.answer(413 if length > 0 else 400, {"error": "bad or too large Content-Length"})
        body = self.rfile.read(length)
        headers = {name.lower(): value for name, value in self.headers.items()}
        problem = verify(config.key, headers, body, config.tolerance)
        if problem:
            log(f"refused a request: {problem}")
            return self.answer(401, {"error": f"bad signature: {problem}"})
        try:
            action = json.loads(body)
        except ValueError:
            return self.answer(400, {"error": "the body is not JSON"})
        if not isinstance(action, dict):
            return self.answer(400, {"error": "the body is not a JSON object"})
        if action.get("type") == "ping":
            return self.answer(200, {"ok": True, "provider": config.provider})
        if action.get("kind") != "call":
            return self.answer(422, {"error": f"this relay places calls; {action.get('key')} is a {action.get('kind')}"})
        if not action.get("key") or not action.get("to"):
            return self.answer(422, {"error": "a call needs `key` and `to`"})
        if action["key"] != headers["webhook-id"]:
            return self.answer(422, {"error": "webhook-id differs from the action's key"})
        self.relay(config, keys, action)

    def relay(self, config, keys, action):
        key = action["key"]
        try:
            path, headers, body = request_for(config, action)
        except ValueError as error:
            return self.answer(422, {"error": str(error)})
        earlier, entry = keys.claim(key)
        if earlier == "in_flight":
            log(f"{key} is still being placed; asked herald to retry")
            return self.answer(503, {"error": "this call is being placed; retry"}, retry_after=1)
        if earlier == "placed":
            log(f"{key} already placed as {entry.get('id')}; not calling again")
            return self.answer(200, {"id": entry.get("id"), "repeat": True})
        if earlier == "unknown":
            log(f"{key}: an earlier attempt may have placed the call; not calling again")
            return self.answer(409, {"error": "an earlier attempt for this key may have placed the call "
                                              "(no answer from the provider); check the provider for "
                                              f"metadata.herald_key = {key}"})
        status, parsed, text, retry = call_provider(config, path, headers, body)
        provider = config.provider
        if 200 <= status < 300 and not (isinstance(parsed, dict) and parsed.get("status") == "error"):
            call_id = provider_call_id(parsed)
            keys.settle(key, "placed", call_id)
            log(f"{key} placed as {call_id}")
            return self.answer(200, {"id": call_id})
        if status == -1:
            keys.settle(key, "unknown")
            log(f"{key}: {provider} did not answer ({text}); the call may have been placed")
            return self.answer(504, {"error": f"{provider}: {text}"})
        keys.settle(key, "free")
        if status == 0:
            log(f"{key}: {provider} {text}")
            return self.answer(502, {"error": f"{provider} {text}"})
        reason = f"{provider} answered HTTP {status}: {excerpt(text)}"
        log(f"{key}: {reason}")
        if status == 429 or status >= 500:
            return self.answer(status if status in (429, 500, 502, 503, 504) else 502, {"error": reason}, retry)
        return self.answer(status if 400 <= status < 500 else 422, {"error": reason})


def main():
    try:
        config = Config()
    except (ConfigError, ValueError) as error:
        print(f"ai_relay: {error}", file=sys.stderr)
        return 2
    keys = Keys(config.state)
    server = ThreadingHTTPServer((config.host, config.port), Handler)
    server.daemon_threads = True
    server.config, server.keys = config, keys
    host, port = server.server_address[:2]
    print(f"listening on http://{host}:{port}/ for {config.provider}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
