#!/usr/bin/env python3
"""A local stand-in for Slack, for the delivery tests.

Usage: slack_receiver.py PORT TOKEN

Listens on 127.0.0.1:PORT (0 picks a free port) and prints `READY <port>`
once it accepts connections. It exits when its standard input closes, so it
dies with the test process that started it even when that process is killed.

Every posted payload is checked the way Slack would check it, with Slack's
own SDK (`slack_sdk.models.blocks`) plus the limits the SDK leaves out
(see `problems`). Accepted and rejected requests are recorded for the tests.

Slack paths:
  POST /services/T000/B000/XXXX   Incoming Webhook: 200 `ok`, or 400 + error text
  POST /api/chat.postMessage      Web API: `{"ok": true, ...}` or `{"ok": false, "error": ...}`;
                                  `metadata` ({"event_type", "event_payload"}) is checked and kept
  POST /api/chat.update
  GET  /api/conversations.history ?channel=<id>&oldest=<ts>&limit=<n>&cursor=<c>&include_all_metadata=true:
                                  the channel's top-level messages, newest first, paged, with their
                                  metadata only when include_all_metadata is true; needs the
                                  `channels:history` scope (see `scopes` below)
Control paths:
  POST /_control   {"rate_limit_next": n, "retry_after": s, "fail_next": m}: the next n
                   requests answer 429 with `Retry-After: s`, then the next m answer 500;
                   {"hang_next": h, "hang_seconds": t}: the next h requests are held t
                   seconds and then dropped unanswered (and not recorded), as a Slack
                   that never answers; {"slow_next": s, "slow_seconds": t}: the next s
                   requests are done (a post is recorded) and answered t seconds late, as
                   a Slack slower than the client's timeout; {"scopes": [...]}: the token's
                   scopes (default: chat:write, channels:history);
                   {"per_minute": {"chat.update": 50, ...}}: Slack's
                   rate tiers, enforced per method over a sliding minute (429 with the
                   Retry-After until a slot frees). Keys left out keep their value.
  GET  /_control   {"rate_limit_next": left, "rate_limited": answered 429s, "failed": answered 500s,
                   "hung": dropped requests, "calls": {method: requests seen}}
  GET  /_messages  accepted requests, in order
  GET  /_rejections rejected requests, in order, each with its `error`
  POST /_reset     forgets everything
"""

import json
import os
import re
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    from slack_sdk.errors import SlackObjectFormationError
    from slack_sdk.models.basic_objects import JsonObject
    from slack_sdk.models.blocks import Block
except ImportError:
    print(
        "slack_receiver.py needs the official Slack SDK: pip install slack-sdk",
        file=sys.stderr,
    )
    sys.exit(3)

WEBHOOK_PATH = "/services/T000/B000/XXXX"
API_PATHS = {"/api/chat.postMessage", "/api/chat.update"}
HISTORY_PATH = "/api/conversations.history"
DEFAULT_SCOPES = ["chat:write", "channels:history"]
# Slack's message metadata: event_type is a short snake_case name, the
# payload an object of strings, numbers, booleans and objects of those.
EVENT_TYPE = re.compile(r"^[a-zA-Z0-9_]{1,255}$")

# Slack's documented limits that slack_sdk does not check.
MAX_BLOCKS = 50
MAX_TEXT = 40000
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_TEXT = 3000
TEXT_TYPES = {"plain_text", "mrkdwn"}
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


def walk_objects(value):
    """Every slack_sdk object nested in a parsed block (fields, elements, text)."""
    if isinstance(value, JsonObject):
        yield value
        for name, attr in vars(value).items():
            if not name.startswith("_"):
                yield from walk_objects(attr)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from walk_objects(item)


def text_object_problem(where, obj, max_len=None, plain_only=False):
    """Slack's rules for a text object given as JSON, or None when it passes."""
    if not isinstance(obj, dict):
        return f"{where}: text object must be an object"
    kind = obj.get("type")
    if kind not in TEXT_TYPES:
        return f"{where}: text object type must be plain_text or mrkdwn, got {kind!r}"
    if plain_only and kind != "plain_text":
        return f"{where}: must be plain_text"
    text = obj.get("text")
    if not isinstance(text, str) or text == "":
        return f"{where}: text must be a non-empty string"
    if max_len is not None and len(text) > max_len:
        return f"{where}: text must be at most {max_len} characters, has {len(text)}"
    return None


def block_problem(index, raw):
    """Why Slack would refuse one block, or None."""
    where = f"/blocks/{index}"
    if not isinstance(raw, dict) or "type" not in raw:
        return f"{where}: block must be an object with a type"
    try:
        # slack_sdk skips unknown block types with a warning: Slack refuses them.
        block = Block.parse(dict(raw))
    except TypeError as e:  # a missing required attribute
        return f"{where}: {e}"
    if block is None:
        return f"{where}: unsupported block type {raw['type']!r}"
    # slack_sdk ignores attributes it does not know: Slack refuses them.
    unknown = set(raw) - set(block.attributes) - {"type"}
    if unknown:
        return f"{where}: invalid additional property {sorted(unknown)}"
    try:
        # validate_json checks the block's own rules only; nested objects
        # (fields, context elements, buttons) carry their own validators.
        for obj in walk_objects(block):
            obj.validate_json()
    except SlackObjectFormationError as e:
        return f"{where}: {e}"
    # What neither checks: text object shape, field and context lengths.
    kind = raw["type"]
    if kind == "header":
        return text_object_problem(f"{where}/text", raw.get("text"), 150, plain_only=True)
    if kind == "section":
        if "text" in raw:
            problem = text_object_problem(f"{where}/text", raw["text"], 3000)
            if problem:
                return problem
        for n, field in enumerate(raw.get("fields") or []):
            problem = text_object_problem(f"{where}/fields/{n}", field, MAX_FIELD_TEXT)
            if problem:
                return problem
    if kind == "context":
        for n, element in enumerate(raw.get("elements") or []):
            if isinstance(element, dict) and element.get("type") in TEXT_TYPES:
                problem = text_object_problem(f"{where}/elements/{n}", element, MAX_CONTEXT_TEXT)
                if problem:
                    return problem
    return None


def metadata_problem(metadata):
    """Why Slack would refuse a message's metadata, or None."""
    if not isinstance(metadata, dict):
        return "metadata must be an object"
    event_type = metadata.get("event_type")
    if not isinstance(event_type, str) or not EVENT_TYPE.match(event_type):
        return f"metadata.event_type must be a short alphanumeric name, got {event_type!r}"
    payload = metadata.get("event_payload")
    if not isinstance(payload, dict):
        return "metadata.event_payload must be an object"
    scalar = (str, int, float, bool)
    for key, value in payload.items():
        if isinstance(value, dict):
            if not all(isinstance(v, scalar) for v in value.values()):
                return f"metadata.event_payload.{key}: nested values must be strings, numbers or booleans"
        elif not isinstance(value, scalar):
            return f"metadata.event_payload.{key}: must be a string, number, boolean or object"
    unknown = set(metadata) - {"event_type", "event_payload"}
    if unknown:
        return f"metadata: unknown fields {sorted(unknown)}"
    return None


def message_problem(payload):
    """(error code, detail) when Slack would refuse the message, else None."""
    text = payload.get("text")
    blocks = payload.get("blocks")
    if text is not None and not isinstance(text, str):
        return "invalid_arguments", "text must be a string"
    if not text and not blocks:
        return "no_text", "text or blocks required"
    if text is not None and len(text) > MAX_TEXT:
        return "msg_too_long", f"text has {len(text)} characters (max {MAX_TEXT})"
    if blocks is None:
        return None
    if not isinstance(blocks, list):
        return "invalid_blocks_format", "blocks must be an array"
    if len(blocks) > MAX_BLOCKS:
        return "invalid_blocks", f"{len(blocks)} blocks (max {MAX_BLOCKS})"
    for index, raw in enumerate(blocks):
        problem = block_problem(index, raw)
        if problem:
            return "invalid_blocks", problem
    return None


class State:
    """What the receiver saw, shared by the handler threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.messages = []
        self.rejections = []
        self.rate_limit_next = 0
        self.retry_after = 1
        self.fail_next = 0
        self.rate_limited = 0
        self.failed = 0
        self.hang_next = 0
        self.hang_seconds = 0.0
        self.hung = 0
        self.slow_next = 0
        self.slow_seconds = 0.0
        self.scopes = list(DEFAULT_SCOPES)
        # Top-level Web API messages per channel, oldest first:
        # {"ts", "text", "metadata", "bot_id"}.
        self.history = {}
        self.per_minute = {}
        # Per method: the times of the requests it accepted in the last minute.
        self.window = {}
        self.calls = {}
        self.seq = 0
        # (channel, ts) of every message posted through the Web API.
        self.posted = set()

    def next_ts(self):
        self.seq += 1
        return f"{int(time.time())}.{self.seq:06d}"


STATE = State()
TOKEN = ""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeSlack/1"

    def log_message(self, format, *args):  # quiet: the tests read the records
        pass

    # --- plumbing -------------------------------------------------------

    def answer(self, status, body, content_type="application/json; charset=utf-8", headers=()):
        # A slow Slack: the work is done, the answer comes late (the client
        # may have given up waiting by then).
        delay = getattr(self, "delay_answer", 0)
        if delay:
            self.delay_answer = 0
            time.sleep(delay)
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # --- routes -----------------------------------------------------------

    def do_GET(self):
        if self.path.split("?", 1)[0] == HISTORY_PATH:
            return self.history()
        with STATE.lock:
            views = {
                "/_messages": list(STATE.messages),
                "/_rejections": list(STATE.rejections),
                "/_control": {
                    "rate_limit_next": STATE.rate_limit_next,
                    "rate_limited": STATE.rate_limited,
                    "failed": STATE.failed,
                    "hung": STATE.hung,
                    "calls": dict(STATE.calls),
                },
            }
        if self.path in views:
            return self.answer(200, views[self.path])
        self.answer(404, "not_found", "text/plain")

    def do_POST(self):
        raw = self.read_body()
        if self.path == "/_reset":
            with STATE.lock:
                STATE.reset()
            return self.answer(200, {"ok": True})
        if self.path == "/_control":
            control = json.loads(raw or b"{}")
            with STATE.lock:
                STATE.rate_limit_next = int(control.get("rate_limit_next", STATE.rate_limit_next))
                STATE.retry_after = int(control.get("retry_after", STATE.retry_after))
                STATE.fail_next = int(control.get("fail_next", STATE.fail_next))
                STATE.hang_next = int(control.get("hang_next", STATE.hang_next))
                STATE.hang_seconds = float(control.get("hang_seconds", STATE.hang_seconds))
                STATE.per_minute = dict(control.get("per_minute", STATE.per_minute))
                STATE.slow_next = int(control.get("slow_next", STATE.slow_next))
                STATE.slow_seconds = float(control.get("slow_seconds", STATE.slow_seconds))
                STATE.scopes = list(control.get("scopes", STATE.scopes))
            return self.answer(200, {"ok": True})
        if self.path != WEBHOOK_PATH and self.path not in API_PATHS:
            return self.answer(404, "no_service", "text/plain")

        method = self.path.rsplit("/", 1)[-1] if self.path in API_PATHS else "webhook"
        with STATE.lock:
            STATE.calls[method] = STATE.calls.get(method, 0) + 1
            hang = STATE.hang_next > 0
            if hang:
                STATE.hang_next -= 1
                STATE.hung += 1
                seconds = STATE.hang_seconds
        if hang:
            time.sleep(seconds)
            self.close_connection = True
            return None
        with STATE.lock:
            limit = STATE.per_minute.get(method)
            if limit is not None:
                now = time.monotonic()
                recent = [t for t in STATE.window.get(method, []) if now - t < 60]
                if len(recent) >= int(limit):
                    STATE.window[method] = recent
                    STATE.rate_limited += 1
                    wait = max(1, int(60 - (now - recent[0])) + 1)
                    headers = [("Retry-After", str(wait))]
                    if self.path == WEBHOOK_PATH:
                        return self.answer(429, "rate_limited", "text/plain", headers)
                    return self.answer(429, {"ok": False, "error": "ratelimited"}, headers=headers)
                recent.append(now)
                STATE.window[method] = recent
            if STATE.rate_limit_next > 0:
                STATE.rate_limit_next -= 1
                STATE.rate_limited += 1
                headers = [("Retry-After", str(STATE.retry_after))]
                if self.path == WEBHOOK_PATH:
                    return self.answer(429, "rate_limited", "text/plain", headers)
                return self.answer(429, {"ok": False, "error": "ratelimited"}, headers=headers)
            if STATE.fail_next > 0:
                STATE.fail_next -= 1
                STATE.failed += 1
                return self.answer(500, "internal_error", "text/plain")

        with STATE.lock:
            slow = STATE.slow_next > 0
            if slow:
                STATE.slow_next -= 1
                delay = STATE.slow_seconds
        if slow:
            self.delay_answer = delay
        if self.path == WEBHOOK_PATH:
            self.webhook(raw)
        else:
            self.web_api(raw)

    def webhook(self, raw):
        record = {"path": self.path, "kind": "webhook", "channel": None, "ts": None, "thread_ts": None}
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return self.reject(record, raw, "invalid_payload", "body is not a JSON object", webhook=True)
        record["payload"] = payload
        problem = message_problem(payload)
        if problem:
            return self.reject(record, payload, *problem, webhook=True)
        with STATE.lock:
            STATE.messages.append(record)
        self.answer(200, "ok", "text/plain")

    def web_api(self, raw):
        update = self.path == "/api/chat.update"
        record = {"path": self.path, "kind": "update" if update else "post", "channel": None, "ts": None, "thread_ts": None}
        auth = self.headers.get("Authorization")
        if auth is None:
            return self.reject(record, None, "not_authed", "no Authorization header")
        if auth != f"Bearer {TOKEN}":
            return self.reject(record, None, "invalid_auth", "wrong token")
        content_type = (self.headers.get("Content-Type") or "").lower()
        if not content_type.startswith("application/json"):
            return self.reject(record, None, "invalid_arguments", f"Content-Type {content_type!r} is not JSON")
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return self.reject(record, None, "invalid_json", "body is not a JSON object")
        record["payload"] = payload
        channel = payload.get("channel")
        if not isinstance(channel, str) or not channel:
            return self.reject(record, payload, "channel_not_found", "no channel")
        # Slack answers with the channel id, whatever name was posted to.
        channel_id = channel if CHANNEL_ID.match(channel) else f"C{zlib.crc32(channel.encode()):08X}"
        record["channel"] = channel_id
        problem = message_problem(payload)
        if problem:
            return self.reject(record, payload, *problem)
        metadata = payload.get("metadata")
        if metadata is not None:
            problem = metadata_problem(metadata)
            if problem:
                return self.reject(record, payload, "invalid_metadata_format", problem)

        with STATE.lock:
            if update:
                ts = payload.get("ts")
                record["ts"] = ts
                if (channel_id, ts) not in STATE.posted:
                    return self.reject_locked(record, payload, "message_not_found", f"no message {ts} in {channel_id}")
            else:
                thread_ts = payload.get("thread_ts")
                if thread_ts is not None:
                    record["kind"] = "reply"
                    record["thread_ts"] = thread_ts
                    if (channel_id, thread_ts) not in STATE.posted:
                        return self.reject_locked(record, payload, "thread_not_found", f"no message {thread_ts} in {channel_id}")
                ts = STATE.next_ts()
                record["ts"] = ts
                STATE.posted.add((channel_id, ts))
                if thread_ts is None:
                    STATE.history.setdefault(channel_id, []).append(
                        {"ts": ts, "text": payload.get("text"), "metadata": metadata, "bot_id": "B0START"}
                    )
            STATE.messages.append(record)
        message = {k: v for k, v in payload.items() if k in ("text", "blocks", "thread_ts")}
        message.update({"type": "message", "user": "U0START", "bot_id": "B0START", "ts": ts})
        self.answer(200, {"ok": True, "channel": channel_id, "ts": ts, "message": message})

    def history(self):
        """conversations.history, as Slack answers it."""
        from urllib.parse import parse_qs, urlsplit

        query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
        record = {"path": HISTORY_PATH, "kind": "history", "channel": query.get("channel"), "ts": None, "thread_ts": None}
        with STATE.lock:
            STATE.calls["conversations.history"] = STATE.calls.get("conversations.history", 0) + 1
        auth = self.headers.get("Authorization")
        if auth is None:
            return self.reject(record, query, "not_authed", "no Authorization header")
        if auth != f"Bearer {TOKEN}":
            return self.reject(record, query, "invalid_auth", "wrong token")
        with STATE.lock:
            scopes = list(STATE.scopes)
        if "channels:history" not in scopes:
            return self.reject(record, query, "missing_scope", "needed: channels:history")
        channel = query.get("channel", "")
        if not CHANNEL_ID.match(channel):
            return self.reject(record, query, "channel_not_found", f"{channel!r} is not a channel id")
        try:
            oldest = float(query.get("oldest", "0"))
            limit = max(1, min(int(query.get("limit", "100")), 999))
            start = int(query.get("cursor") or 0)
        except ValueError as e:
            return self.reject(record, query, "invalid_arguments", str(e))
        with_metadata = query.get("include_all_metadata") in ("true", "1")
        with STATE.lock:
            messages = [m for m in STATE.history.get(channel, []) if float(m["ts"]) >= oldest]
        messages = list(reversed(messages))  # newest first
        page = messages[start:start + limit]
        more = start + limit < len(messages)
        out = []
        for m in page:
            item = {"type": "message", "ts": m["ts"], "text": m["text"], "bot_id": m["bot_id"]}
            if with_metadata and m["metadata"] is not None:
                item["metadata"] = m["metadata"]
            out.append(item)
        self.answer(200, {
            "ok": True,
            "messages": out,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        })

    def reject(self, record, payload, error, detail, webhook=False):
        with STATE.lock:
            self.reject_locked(record, payload, error, detail, webhook)

    def reject_locked(self, record, payload, error, detail, webhook=False):
        if isinstance(payload, (bytes, bytearray)):
            payload = payload.decode("utf-8", "replace")
        STATE.rejections.append(dict(record, payload=payload, error=error, detail=detail))
        if webhook:
            self.answer(400, error, "text/plain")
        else:
            # The Web API answers 200 with ok=false, and says what was wrong.
            self.answer(200, {"ok": False, "error": error, "response_metadata": {"messages": [f"[ERROR] {detail}"]}})


def exit_when_stdin_closes():
    """The launcher holds our stdin open; EOF means it is gone."""
    sys.stdin.buffer.read()
    os._exit(0)


def main():
    global TOKEN
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    port, TOKEN = int(sys.argv[1]), sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
