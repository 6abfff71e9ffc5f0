"""Webhook endpoints: Facebook (feed and Messenger) and Telegram, checked before anything is stored.

A request whose signature (Facebook ``X-Hub-Signature-256``) or secret token (Telegram
``X-Telegram-Bot-Api-Secret-Token``) does not match is refused with 403 and leaves no row.
A verified body is normalised by the platform's adapter and stored in one transaction with
the same unique keys as polling, so a webhook retried or replayed, or overlapping a catch-up
poll, never creates a duplicate. A verified body that cannot be read is quarantined with the
reason and acknowledged, since the platform would only send it again. While the database is
unavailable a delivery is answered 503 (both platforms deliver it again later, and Facebook's
catch-up polling finds it too), and the failure is logged once, with its recovery.
A Messenger message names its sender only by id: a sender the store has no name for is looked
up (`tactful.sender_names`) before the message is stored, so the reply can greet them by name.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from listeners.facebook import parse_webhook
from listeners.facebook_webhook import verify_signature, verify_subscription
from listeners.telegram import parse_callback_query, parse_update, webhook_secret_matches
from storage.ingest import store_fetch
from tactful.clock import Clock
from tactful.domain import CallbackPress, IncomingMessage, QuarantinedPayload
from tactful.outages import FailureLog
from tactful.sender_names import name_senders
from tactful.web.receivers import FacebookWebhook, TelegramWebhook

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000


def _store(
    db: Engine, clock: Clock, key: str, messages: list[IncomingMessage], bad: list[QuarantinedPayload]
) -> None:
    stats = store_fetch(db, key, messages, None, bad, clock.now())
    if stats.stored or stats.quarantined:
        log.info("%s: %d new message(s), %d quarantined", key, stats.stored, stats.quarantined)


def _unavailable(failures: FailureLog, exc: DBAPIError) -> Response:
    """Answer a delivery that could not be stored because the database is down: send it again later."""
    failures.failed(exc)
    return PlainTextResponse("database unavailable; deliver again later", status_code=503)


async def _body(request: Request) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        return None
    body = await request.body()
    return body if len(body) <= MAX_BODY_BYTES else None


def _decode(body: bytes) -> tuple[Any, str | None]:
    try:
        return json.loads(body.decode("utf-8")), None
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"body is not JSON: {exc}"


def webhook_router(
    db: Engine, clock: Clock, facebook: FacebookWebhook | None, telegram: TelegramWebhook | None
) -> APIRouter:
    """Build the webhook routes for the platforms that listen by webhook."""
    router = APIRouter(prefix="/webhooks")

    if facebook is not None:
        key = f"facebook:webhook:{facebook.page_id}"
        fb_failures = FailureLog(log, f"{key}: storing deliveries")

        @router.get("/facebook")
        def facebook_verify(request: Request) -> Response:
            """Answer Meta's subscription handshake (hub.mode, hub.verify_token, hub.challenge)."""
            challenge = verify_subscription(dict(request.query_params), facebook.verify_token)
            if challenge is None:
                return PlainTextResponse("verification failed", status_code=403)
            return PlainTextResponse(challenge)

        @router.post("/facebook")
        async def facebook_event(request: Request) -> Response:
            """Store the comments and Messenger messages of one signed delivery."""
            body = await _body(request)
            if body is None:
                return PlainTextResponse("payload too large", status_code=413)
            if not verify_signature(facebook.app_secret, body, request.headers.get("x-hub-signature-256")):
                log.warning("facebook webhook refused: bad or missing X-Hub-Signature-256")
                return PlainTextResponse("bad signature", status_code=403)
            payload, error = _decode(body)
            try:
                if error is not None:
                    bad = [QuarantinedPayload(key, error, body.decode("utf-8", "replace")[:100_000])]
                    _store(db, clock, key, [], bad)
                else:
                    messages, quarantined = parse_webhook(payload, facebook.page_id)
                    if facebook.sender_names is not None:
                        messages = await run_in_threadpool(name_senders, db, facebook.sender_names, messages)
                    _store(db, clock, key, messages, quarantined)
            except DBAPIError as exc:
                return _unavailable(fb_failures, exc)
            fb_failures.succeeded()
            return PlainTextResponse("EVENT_RECEIVED")

    if telegram is not None:
        tg_key = f"telegram:webhook:{telegram.bot_id}"
        tg_failures = FailureLog(log, f"{tg_key}: storing updates")

        @router.post("/telegram")
        async def telegram_update(request: Request) -> Response:
            """Store the customer message (or team-chat button press) of one update delivered with our secret token."""
            received = request.headers.get("x-telegram-bot-api-secret-token")
            if not webhook_secret_matches(received, telegram.secret):
                log.warning("telegram webhook refused: bad or missing secret token")
                return PlainTextResponse("bad secret token", status_code=403)
            body = await _body(request)
            if body is None:
                return PlainTextResponse("payload too large", status_code=413)
            payload, error = _decode(body)
            try:
                _store_update(payload, error, body)
            except DBAPIError as exc:
                return _unavailable(tg_failures, exc)
            tg_failures.succeeded()
            return PlainTextResponse("ok")

        def _store_update(payload: Any, error: str | None, body: bytes) -> None:
            if error is not None:
                bad = [QuarantinedPayload(tg_key, error, body.decode("utf-8", "replace")[:100_000])]
                _store(db, clock, tg_key, [], bad)
                return
            result: IncomingMessage | CallbackPress | QuarantinedPayload | None
            result = parse_update(
                payload, telegram.bot_username, source=tg_key, staff_chats=telegram.staff_chats
            )
            if result is None:
                result = parse_callback_query(payload, source=tg_key)
            if isinstance(result, IncomingMessage):
                _store(db, clock, tg_key, [result], [])
            elif isinstance(result, CallbackPress):
                store_fetch(db, tg_key, [], None, [], clock.now(), presses=[result])
            elif isinstance(result, QuarantinedPayload):
                _store(db, clock, tg_key, [], [result])

    return router
