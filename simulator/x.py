"""A fake X API v2 over real HTTP, so tweepy's `Client` runs against it unmodified.

Shapes follow the X API v2 OpenAPI spec 2.166 (`data`, `includes.users`, `includes.tweets`,
`meta`, RFC 7807 problem bodies, `x-rate-limit-*` headers). State is scripted through the
Python API (`add_user`, `post`, ...) and inspected afterwards (`brand_replies`, `brand_dms`,
`request_log`). Faults are injected with `fail_next`, `set_latency` and `set_rate_limit`, and at
random rates with the switches every simulator has (`set_fault_rate`, `set_throttle_rate`, ...; see
`simulator.faults`): a random 429 carries the quota's ``x-rate-limit-*`` headers.
"""

from __future__ import annotations

import copy
import http
import math
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from simulator.faults import InjectedFault
from simulator.http import LoopbackServer, SimRequest, SimResponse, json_response
from tactful.clock import Clock, SystemClock

TWITTER_EPOCH_MS = 1288834974657
SEARCH_RECENT_WINDOW = timedelta(days=7)
_PROBLEM_BASE = "https://api.twitter.com/2/problems/"
_MENTION_RE = re.compile(r"(?<![\w@])@(\w{1,15})")
_URL_OPERATOR_RE = re.compile(r"^[a-z_]+:")
_ID_RE = re.compile(r"^[0-9]{1,19}$")


@dataclass(frozen=True, slots=True)
class RateLimitRule:
    """A quota: at most `limit` requests per fixed window for matching requests.

    `path_prefix` may contain ``:name`` placeholders for one path segment
    (``/2/users/:id/mentions``); `method` None matches any method. The most specific
    (longest prefix) matching rule wins.
    """

    path_prefix: str
    limit: int
    window_seconds: int
    method: str | None = None


_FIFTEEN_MINUTES = 15 * 60

DOCUMENTED_RATE_LIMITS: tuple[RateLimitRule, ...] = (
    RateLimitRule("/2/users/:id/mentions", 450, _FIFTEEN_MINUTES, "GET"),
    RateLimitRule("/2/tweets/search/recent", 450, _FIFTEEN_MINUTES, "GET"),
    RateLimitRule("/2/tweets", 100, _FIFTEEN_MINUTES, "POST"),
    RateLimitRule("/2/tweets/:id/hidden", 50, _FIFTEEN_MINUTES, "PUT"),
    RateLimitRule("/2/dm_conversations", 15, _FIFTEEN_MINUTES, "POST"),
    RateLimitRule("/2/dm_conversations", 300, _FIFTEEN_MINUTES, "GET"),
    RateLimitRule("/2/users/:id/tweets", 1500, _FIFTEEN_MINUTES, "GET"),
    RateLimitRule("/2/users/me", 75, _FIFTEEN_MINUTES, "GET"),
    RateLimitRule("/2/", 300, _FIFTEEN_MINUTES, None),
)
"""The limits X documents per endpoint (per app for reads, per user for writes)."""

DEFAULT_RATE_LIMITS: tuple[RateLimitRule, ...] = tuple(
    RateLimitRule(rule.path_prefix, rule.limit * 10, rule.window_seconds, rule.method)
    for rule in DOCUMENTED_RATE_LIMITS
)
"""The documented limits times ten: real accounting, but room for demos and test bursts."""


@dataclass(frozen=True, slots=True)
class BrandReply:
    """A tweet the brand posted through the API."""

    tweet_id: str
    text: str
    in_reply_to_tweet_id: str | None
    conversation_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class BrandDm:
    """A direct message the brand sent through the API."""

    dm_event_id: str
    dm_conversation_id: str
    recipient_id: str
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request the simulator answered."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    auth_scheme: str | None
    body: bytes


@dataclass(slots=True)
class _User:
    id: str
    username: str
    name: str
    accepts_dms: bool
    is_bot: bool
    created_at: datetime


@dataclass(slots=True)
class _Tweet:
    seq: int
    author_id: str | None
    text: str
    created_at: datetime
    conversation_id: str
    in_reply_to_tweet_id: str | None = None
    in_reply_to_user_id: str | None = None
    retweet_of: str | None = None
    lang: str | None = None
    mention_ids: frozenset[str] = frozenset()
    hidden: bool = False
    deleted: bool = False
    raw: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return str(self.seq)


@dataclass(slots=True)
class _DmEvent:
    seq: int
    conversation_id: str
    sender_id: str
    recipient_id: str
    text: str
    created_at: datetime

    @property
    def id_str(self) -> str:
        return str(self.seq)


@dataclass(slots=True)
class _Fault:
    method: str
    path_prefix: str
    status: int
    remaining: int
    retry_after: float | None
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        self.pattern = _template_regex(self.path_prefix)


@dataclass(slots=True)
class _Bucket:
    window_start: datetime
    used: int = 0


class _ApiError(Exception):
    """Raised inside handlers to answer with a problem body."""

    def __init__(self, response: SimResponse) -> None:
        super().__init__(response.status)
        self.response = response


def problem(
    status: int, detail: str, *, type_: str = "about:blank", title: str | None = None, **extra: Any
) -> SimResponse:
    """Build an RFC 7807 problem response as X API v2 sends it."""
    body: dict[str, Any] = {
        "title": title or http.HTTPStatus(status).phrase,
        "detail": detail,
        "type": type_,
        "status": status,
    }
    body.update(extra)
    return json_response(status, body, {"content-type": "application/problem+json"})


def _invalid(message: str, parameter: str, value: str = "") -> _ApiError:
    """An invalid-request problem naming the offending parameter."""
    response = problem(
        400,
        "One or more parameters to your request was invalid.",
        type_=_PROBLEM_BASE + "invalid-request",
        title="Invalid Request",
        errors=[{"parameters": {parameter: [value]}, "message": message}],
    )
    return _ApiError(response)


def _iso(moment: datetime) -> str:
    """Format a datetime the way X does: 2026-01-05T09:00:00.000Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _encode_token(seq: int) -> str:
    """Encode a pagination position as an opaque base36 token."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while seq:
        seq, rem = divmod(seq, 36)
        out = digits[rem] + out
    return out or "0"


def _template_regex(path_prefix: str) -> re.Pattern[str]:
    """Compile a path prefix with :placeholders into a prefix regex."""
    parts = [("[^/]+" if part.startswith(":") else re.escape(part)) for part in path_prefix.split("/")]
    return re.compile("^" + "/".join(parts))


def _word_regex(term: str) -> re.Pattern[str]:
    """Match `term` as a whole word or phrase, case-insensitively."""
    return re.compile(r"(?<![\w@#])" + re.escape(term) + r"(?!\w)", re.IGNORECASE)


# --- recent-search query language -------------------------------------------------------

_Predicate = Callable[[_Tweet], bool]
_TOKEN_RE = re.compile(r'\s*(?:(-?\()|(\))|(-?"[^"]*")|([^\s()]+))')


class _QueryError(ValueError):
    """The search query could not be parsed."""


class _QueryParser:
    """Recursive-descent parser for the subset of X search syntax the simulator supports.

    Terms are ANDed by juxtaposition; ``OR`` separates alternatives; parentheses group;
    a leading ``-`` negates. Supported atoms: keywords, "quoted phrases", @mentions,
    #hashtags, from:, to:, is:retweet, is:reply, is:quote, lang:, conversation_id:.
    """

    def __init__(self, query: str, users_by_name: Callable[[str], _User | None]) -> None:
        self._tokens = self._tokenize(query)
        self._pos = 0
        self._user_named = users_by_name

    @staticmethod
    def _tokenize(query: str) -> list[str]:
        tokens: list[str] = []
        pos = 0
        query = query.strip()
        while pos < len(query):
            match = _TOKEN_RE.match(query, pos)
            if match is None or match.end() == pos:
                raise _QueryError(f"cannot parse query near position {pos}")
            tokens.append(next(group for group in match.groups() if group is not None))
            pos = match.end()
            while pos < len(query) and query[pos].isspace():
                pos += 1
        if not tokens:
            raise _QueryError("query is empty")
        return tokens

    def parse(self) -> _Predicate:
        predicate = self._parse_or()
        if self._pos != len(self._tokens):
            raise _QueryError(f"unexpected {self._tokens[self._pos]!r}")
        return predicate

    def _peek(self) -> str | None:
        return self._tokens[self._pos] if self._pos < len(self._tokens) else None

    def _parse_or(self) -> _Predicate:
        alternatives = [self._parse_and()]
        while self._peek() == "OR":
            self._pos += 1
            alternatives.append(self._parse_and())
        if len(alternatives) == 1:
            return alternatives[0]
        return lambda tweet: any(alt(tweet) for alt in alternatives)

    def _parse_and(self) -> _Predicate:
        terms: list[_Predicate] = []
        while self._peek() not in (None, ")", "OR"):
            terms.append(self._parse_unary())
        if not terms:
            raise _QueryError("expected a search term")
        if len(terms) == 1:
            return terms[0]
        return lambda tweet: all(term(tweet) for term in terms)

    def _parse_unary(self) -> _Predicate:
        word = self._tokens[self._pos]
        self._pos += 1
        negate = word.startswith("-") and len(word) > 1
        if negate:
            word = word[1:]
        if word == "(":
            inner = self._parse_or()
            if self._peek() != ")":
                raise _QueryError("missing closing parenthesis")
            self._pos += 1
            predicate = inner
        else:
            predicate = self._atom(word)
        if negate:
            positive = predicate
            return lambda tweet: not positive(tweet)
        return predicate

    def _atom(self, token: str) -> _Predicate:
        if token.startswith('"'):
            phrase = token.strip('"')
            if not phrase:
                raise _QueryError("empty quoted phrase")
            pattern = _word_regex(phrase)
            return lambda tweet: bool(pattern.search(tweet.text))
        lowered = token.lower()
        if _URL_OPERATOR_RE.match(lowered) and not lowered.startswith(("http:", "https:")):
            operator, _, value = token.partition(":")
            return self._operator(operator.lower(), value)
        if token.startswith("@"):
            user = self._user_named(token[1:])
            pattern = _word_regex(token)
            return lambda tweet: (
                bool(pattern.search(tweet.text)) or (user is not None and user.id in tweet.mention_ids)
            )
        pattern = _word_regex(token)
        return lambda tweet: bool(pattern.search(tweet.text))

    def _operator(self, operator: str, value: str) -> _Predicate:
        if not value:
            raise _QueryError(f"operator {operator}: needs a value")
        if operator in ("from", "to"):
            user = self._user_named(value.lstrip("@"))
            wanted = {value} if user is None else {value, user.id}
            if operator == "from":
                return lambda tweet: tweet.author_id in wanted
            return lambda tweet: tweet.in_reply_to_user_id in wanted
        if operator == "is":
            kinds: dict[str, _Predicate] = {
                "retweet": lambda tweet: tweet.retweet_of is not None,
                "reply": lambda tweet: tweet.in_reply_to_tweet_id is not None,
                "quote": lambda tweet: False,
            }
            if value.lower() not in kinds:
                raise _QueryError(f"unsupported is:{value}")
            return kinds[value.lower()]
        if operator == "lang":
            return lambda tweet: (tweet.lang or "").lower() == value.lower()
        if operator == "conversation_id":
            return lambda tweet: tweet.conversation_id == value
        raise _QueryError(f"unknown operator {operator}:")


def compile_search_query(
    query: str, users: Iterable[tuple[str, str]] = ()
) -> Callable[[dict[str, Any]], bool]:
    """Compile a search query into a predicate over simple tweet dicts (for tests and tools).

    `users` are (id, username) pairs used to resolve from:/to:/@ operators. The dict may
    carry text, author_id, in_reply_to_user_id, lang, conversation_id.
    """
    known = {user_id: _User(user_id, name, name, True, False, datetime.min) for user_id, name in users}
    by_name = {user.username.lower(): user for user in known.values()}
    predicate = _QueryParser(query, lambda name: by_name.get(name.lower())).parse()

    def matches(tweet: dict[str, Any]) -> bool:
        record = _Tweet(
            seq=0,
            author_id=tweet.get("author_id"),
            text=str(tweet.get("text", "")),
            created_at=datetime.min,
            conversation_id=str(tweet.get("conversation_id", "")),
            in_reply_to_user_id=tweet.get("in_reply_to_user_id"),
            lang=tweet.get("lang"),
        )
        return predicate(record)

    return matches


# --- the simulator ----------------------------------------------------------------------

_Handler = Callable[[SimRequest, re.Match[str]], SimResponse]


@dataclass(slots=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: _Handler = field(repr=False)


class XSimulator(LoopbackServer):
    """A thread-safe fake X API v2 that tweepy 4.17 talks to over HTTP.

    The brand is the authenticated user for every request (whatever the credentials), so
    tweets and DMs created through the API are the brand's.
    """

    def __init__(
        self,
        brand_user_id: str = "1000",
        brand_username: str = "brand",
        clock: Clock | None = None,
        *,
        brand_name: str | None = None,
        rate_limits: Sequence[RateLimitRule] = DEFAULT_RATE_LIMITS,
        reject_duplicate_text: bool = False,
    ) -> None:
        super().__init__()
        self._clock: Clock = clock or SystemClock()
        self._lock = threading.RLock()
        self.brand_user_id = brand_user_id
        self.brand_username = brand_username
        self._reject_duplicates = reject_duplicate_text
        self._users: dict[str, _User] = {}
        self._tweets: dict[int, _Tweet] = {}
        self._dms: list[_DmEvent] = []
        self._last_seq = 0
        self._log: list[LoggedRequest] = []
        self._faults: list[_Fault] = []
        self._latency = 0.0
        self._rules: dict[tuple[str | None, str], RateLimitRule] = {}
        self._buckets: dict[tuple[str | None, str], _Bucket] = {}
        for rule in rate_limits:
            self._rules[(rule.method, rule.path_prefix)] = rule
        self.add_user(brand_user_id, brand_username, brand_name or brand_username)
        self._routes = [
            _Route("GET", re.compile(r"^/2/users/me$"), self._get_me),
            _Route("GET", re.compile(r"^/2/users/(?P<id>[^/]+)/mentions$"), self._get_mentions),
            _Route("GET", re.compile(r"^/2/users/(?P<id>[^/]+)/tweets$"), self._get_user_tweets),
            _Route("GET", re.compile(r"^/2/tweets/search/recent$"), self._search_recent),
            _Route("POST", re.compile(r"^/2/tweets$"), self._create_tweet),
            _Route("PUT", re.compile(r"^/2/tweets/(?P<id>[^/]+)/hidden$"), self._hide_reply),
            _Route(
                "POST",
                re.compile(r"^/2/dm_conversations/with/(?P<id>[^/]+)/messages$"),
                self._create_dm,
            ),
            _Route(
                "GET",
                re.compile(r"^/2/dm_conversations/with/(?P<id>[^/]+)/dm_events$"),
                self._get_dm_events,
            ),
        ]

    # --- scripting -----------------------------------------------------------------------

    def add_user(
        self, user_id: str, username: str, name: str, accepts_dms: bool = True, is_bot: bool = False
    ) -> None:
        """Create (or replace) a user account."""
        if not _ID_RE.match(user_id):
            raise ValueError(f"user id must be numeric, got {user_id!r}")
        with self._lock:
            self._users[user_id] = _User(user_id, username, name, accepts_dms, is_bot, self._clock.now())

    def set_accepts_dms(self, user_id: str, accepts_dms: bool) -> None:
        """Open or close a user's DMs."""
        with self._lock:
            self._require_user(user_id).accepts_dms = accepts_dms

    def post(
        self,
        author_id: str,
        text: str,
        *,
        in_reply_to: str | None = None,
        lang: str | None = None,
        created_at: datetime | None = None,
        retweet_of: str | None = None,
    ) -> str:
        """Publish a tweet as `author_id` and return its id.

        A tweet naming @username mentions that user; a reply also mentions the author of
        the tweet it answers (as X prefixes replies with their @handles).
        """
        with self._lock:
            self._require_user(author_id)
            return self._store_tweet(author_id, text, in_reply_to, lang, created_at, retweet_of).id

    def post_raw(self, payload: dict[str, Any], *, mentions: Sequence[str] | None = None) -> str:
        """Store a verbatim tweet payload (possibly malformed) returned as-is by list endpoints.

        It appears in the mentions of `mentions` (default: the brand) and in search results
        when its ``text`` matches. Returns the position id used for ordering and since_id.
        """
        with self._lock:
            seq = self._next_seq(self._clock.now())
            text = payload.get("text")
            author = payload.get("author_id")
            self._tweets[seq] = _Tweet(
                seq=seq,
                author_id=author if isinstance(author, str) else None,
                text=text if isinstance(text, str) else "",
                created_at=self._clock.now(),
                conversation_id=str(seq),
                mention_ids=frozenset(mentions if mentions is not None else (self.brand_user_id,)),
                raw=copy.deepcopy(payload),
            )
            return str(seq)

    def delete_tweet(self, tweet_id: str) -> None:
        """Delete a tweet: it disappears from every listing and cannot be replied to."""
        with self._lock:
            self._require_tweet(tweet_id).deleted = True

    def send_dm_to_brand(self, sender_id: str, text: str) -> str:
        """Have a user send the brand a direct message; returns the dm_event_id."""
        with self._lock:
            self._require_user(sender_id)
            return self._store_dm(sender_id, self.brand_user_id, text).id_str

    # --- fault injection -----------------------------------------------------------------

    def fail_next(
        self, method: str, path_prefix: str, status: int, count: int = 1, retry_after: float | None = None
    ) -> None:
        """Answer the next `count` requests matching method and path prefix with `status`.

        `method` "*" matches any method; the prefix may use placeholders (``/2/users/:id/mentions``). A 429 carries x-rate-limit-reset `retry_after`
        seconds from now (default: the matching quota's window reset); 5xx and other
        statuses carry an RFC 7807 problem body.
        """
        with self._lock:
            self._faults.append(_Fault(method.upper(), path_prefix, status, count, retry_after))

    def set_latency(self, seconds: float) -> None:
        """Delay every answer by `seconds` (to trigger client timeouts)."""
        with self._lock:
            self._latency = max(0.0, seconds)

    def set_rate_limit(
        self, path_prefix: str, limit: int, window_seconds: int, method: str | None = None
    ) -> None:
        """Install (or replace) a quota and start its accounting from zero.

        Without `method` the quota covers every method on that prefix and replaces any
        method-specific quota installed for the same prefix.
        """
        key = (method.upper() if method else None, path_prefix)
        with self._lock:
            if key[0] is None:
                for stale in [k for k in self._rules if k[1] == path_prefix]:
                    self._rules.pop(stale)
                    self._buckets.pop(stale, None)
            self._rules[key] = RateLimitRule(path_prefix, limit, window_seconds, key[0])
            self._buckets.pop(key, None)

    # --- inspection ----------------------------------------------------------------------

    def brand_replies(self) -> list[BrandReply]:
        """Return every live tweet the brand posted, oldest first."""
        with self._lock:
            return [
                BrandReply(t.id, t.text, t.in_reply_to_tweet_id, t.conversation_id, t.created_at)
                for t in sorted(self._tweets.values(), key=lambda t: t.seq)
                if t.author_id == self.brand_user_id and not t.deleted and t.raw is None
            ]

    def brand_dms(self) -> list[BrandDm]:
        """Return every DM the brand sent, oldest first."""
        with self._lock:
            return [
                BrandDm(e.id_str, e.conversation_id, e.recipient_id, e.text, e.created_at)
                for e in self._dms
                if e.sender_id == self.brand_user_id
            ]

    def hidden_tweet_ids(self) -> set[str]:
        """Return the ids of replies currently hidden."""
        with self._lock:
            return {t.id for t in self._tweets.values() if t.hidden}

    def request_log(self) -> list[LoggedRequest]:
        """Return every request answered so far, oldest first."""
        with self._lock:
            return list(self._log)

    # --- random faults ---------------------------------------------------------------------

    def error_answer(self, request: SimRequest, status: int) -> SimResponse:
        """An RFC 7807 problem, as X answers its own failures."""
        return problem(status, f"Injected failure for {request.method} {request.path}")

    def throttle_answer(self, request: SimRequest, fault: InjectedFault) -> SimResponse:
        """429 with x-rate-limit-limit, -remaining 0 and -reset `fault.retry_after` seconds from now."""
        with self._lock:
            rule, _bucket = self._rule_for(request)
            reset = self._clock.now() + timedelta(seconds=fault.retry_after)
        response = problem(429, "Too Many Requests")
        response.headers.update(
            {
                "x-rate-limit-limit": str(rule.limit if rule else 0),
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(math.ceil(reset.timestamp())),
            }
        )
        return response

    # --- HTTP ----------------------------------------------------------------------------

    def handle(self, request: SimRequest) -> SimResponse:
        """Route one request through auth, faults, quotas and the endpoint handler."""
        with self._lock:
            latency = self._latency
        if latency:
            self.stopping.wait(latency)
        with self._lock:
            response = self._answer(request)
            auth = request.headers.get("authorization", "").strip()
            self._log.append(
                LoggedRequest(
                    method=request.method,
                    path=request.path,
                    query={name: values[0] for name, values in request.query.items() if values},
                    status=response.status,
                    auth_scheme=auth.split(" ", 1)[0] if auth else None,
                    body=request.body,
                )
            )
            return response

    def _answer(self, request: SimRequest) -> SimResponse:
        if not self._authorized(request):
            return problem(401, "Unauthorized")
        route_match = self._route(request)
        if route_match is None:
            return problem(404, f"No route for {request.method} {request.path}")
        route, match = route_match
        fault = self._take_fault(request)
        rate_headers: dict[str, str] = {}
        if fault is None or fault.status != 429:
            limited, rate_headers = self._account(request)
            if limited is not None:
                return limited
        if fault is not None:
            return self._fault_response(request, fault, rate_headers)
        try:
            response = route.handler(request, match)
        except _ApiError as exc:
            response = exc.response
        response.headers.update(rate_headers)
        return response

    @staticmethod
    def _authorized(request: SimRequest) -> bool:
        auth = request.headers.get("authorization", "").strip()
        scheme, _, credentials = auth.partition(" ")
        credentials = credentials.strip()
        return bool(scheme) and credentials not in ("", "None")

    def _route(self, request: SimRequest) -> tuple[_Route, re.Match[str]] | None:
        for route in self._routes:
            match = route.pattern.match(request.path)
            if match is not None and route.method == request.method:
                return route, match
        return None

    def _take_fault(self, request: SimRequest) -> _Fault | None:
        for fault in self._faults:
            if fault.method in ("*", request.method) and fault.pattern.match(request.path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _fault_response(
        self, request: SimRequest, fault: _Fault, rate_headers: dict[str, str]
    ) -> SimResponse:
        headers = dict(rate_headers)
        if fault.status == 429:
            rule, bucket = self._rule_for(request)
            if fault.retry_after is not None:
                reset = self._clock.now() + timedelta(seconds=fault.retry_after)
            elif rule is not None and bucket is not None:
                reset = bucket.window_start + timedelta(seconds=rule.window_seconds)
            else:
                reset = self._clock.now() + timedelta(minutes=15)
            headers.update(
                {
                    "x-rate-limit-limit": str(rule.limit if rule else 0),
                    "x-rate-limit-remaining": "0",
                    "x-rate-limit-reset": str(math.ceil(reset.timestamp())),
                }
            )
        if fault.retry_after is not None:
            headers["retry-after"] = str(math.ceil(fault.retry_after))
        response = problem(fault.status, f"Injected failure for {request.method} {request.path}")
        response.headers.update(headers)
        return response

    def _rule_for(self, request: SimRequest) -> tuple[RateLimitRule | None, _Bucket | None]:
        best: RateLimitRule | None = None
        for rule in self._rules.values():
            if rule.method not in (None, request.method):
                continue
            if not _template_regex(rule.path_prefix).match(request.path):
                continue
            if best is None or (len(rule.path_prefix), rule.method is not None) > (
                len(best.path_prefix),
                best.method is not None,
            ):
                best = rule
        if best is None:
            return None, None
        key = (best.method, best.path_prefix)
        now = self._clock.now()
        bucket = self._buckets.get(key)
        if bucket is None or now >= bucket.window_start + timedelta(seconds=best.window_seconds):
            bucket = self._buckets[key] = _Bucket(window_start=now)
        return best, bucket

    def _account(self, request: SimRequest) -> tuple[SimResponse | None, dict[str, str]]:
        rule, bucket = self._rule_for(request)
        if rule is None or bucket is None:
            return None, {}
        reset = bucket.window_start + timedelta(seconds=rule.window_seconds)
        limited = bucket.used >= rule.limit
        if not limited:
            bucket.used += 1
        headers = {
            "x-rate-limit-limit": str(rule.limit),
            "x-rate-limit-remaining": str(max(0, rule.limit - bucket.used)),
            "x-rate-limit-reset": str(math.ceil(reset.timestamp())),
        }
        if limited:
            response = problem(429, "Too Many Requests")
            response.headers.update(headers)
            return response, headers
        return None, headers

    # --- endpoint handlers ---------------------------------------------------------------

    def _get_me(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        brand = self._users[self.brand_user_id]
        return json_response(200, {"data": self._user_view(brand, _fields(request, "user.fields"))})

    def _get_mentions(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        user_id = match["id"]
        if user_id not in self._users:
            return self._user_not_found(user_id)
        candidates = [t for t in self._tweets.values() if user_id in t.mention_ids]
        return self._tweet_page(request, candidates, (5, 100), 10, "pagination_token")

    def _get_user_tweets(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        user_id = match["id"]
        if user_id not in self._users:
            return self._user_not_found(user_id)
        exclude = _fields(request, "exclude")
        candidates = [
            t
            for t in self._tweets.values()
            if t.author_id == user_id
            and t.raw is None
            and not ("replies" in exclude and t.in_reply_to_tweet_id is not None)
            and not ("retweets" in exclude and t.retweet_of is not None)
        ]
        return self._tweet_page(request, candidates, (5, 100), 10, "pagination_token")

    def _search_recent(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        query = request.param("query")
        if not query:
            raise _invalid("The `query` query parameter can not be empty", "query")
        if len(query) > 4096:
            raise _invalid("The `query` query parameter is too long", "query", query[:50])
        by_name = {user.username.lower(): user for user in self._users.values()}
        try:
            predicate = _QueryParser(query, lambda name: by_name.get(name.lower())).parse()
        except _QueryError as exc:
            raise _invalid(f"There were errors processing your request: {exc}", "query", query) from exc
        oldest = self._clock.now() - SEARCH_RECENT_WINDOW
        candidates = [t for t in self._tweets.values() if t.created_at >= oldest and predicate(t)]
        token_param = "next_token" if request.param("next_token") else "pagination_token"
        return self._tweet_page(request, candidates, (10, 100), 10, token_param)

    def _create_tweet(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        body = _json_object(request)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _invalid("text must be a non-empty string", "text", str(text))
        if len(text) > 280:
            raise _invalid("text is longer than 280 characters", "text", text[:50])
        reply = body.get("reply")
        parent_id: str | None = None
        if reply is not None:
            if not isinstance(reply, dict) or not isinstance(reply.get("in_reply_to_tweet_id"), str):
                raise _invalid("reply.in_reply_to_tweet_id must be a tweet id", "reply")
            parent_id = reply["in_reply_to_tweet_id"]
            parent = self._find_tweet(parent_id)
            if parent is None or parent.deleted or parent.raw is not None:
                raise _ApiError(
                    problem(403, "You attempted to reply to a Tweet that is deleted or not visible to you.")
                )
        if self._reject_duplicates and any(
            t.author_id == self.brand_user_id and t.text == text and not t.deleted
            for t in self._tweets.values()
        ):
            raise _ApiError(problem(403, "You are not allowed to create a Tweet with duplicate content."))
        tweet = self._store_tweet(self.brand_user_id, text, parent_id, None, None, None)
        return json_response(
            201, {"data": {"id": tweet.id, "text": tweet.text, "edit_history_tweet_ids": [tweet.id]}}
        )

    def _hide_reply(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        body = _json_object(request)
        hidden = body.get("hidden")
        if not isinstance(hidden, bool):
            raise _invalid("hidden must be a boolean", "hidden", str(hidden))
        tweet = self._find_tweet(match["id"])
        if tweet is None or tweet.deleted or tweet.raw is not None:
            raise _ApiError(
                problem(
                    404,
                    f"Could not find tweet with id: [{match['id']}].",
                    type_=_PROBLEM_BASE + "resource-not-found",
                )
            )
        root = self._find_tweet(tweet.conversation_id)
        if tweet.in_reply_to_tweet_id is None or root is None or root.author_id != self.brand_user_id:
            raise _ApiError(
                problem(403, "You can only hide or unhide replies to conversations you authored.")
            )
        tweet.hidden = hidden
        return json_response(200, {"data": {"hidden": hidden}})

    def _create_dm(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        participant_id = match["id"]
        body = _json_object(request)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _invalid("text must be a non-empty string", "text", str(text))
        if participant_id == self.brand_user_id:
            raise _invalid("You cannot send a direct message to yourself", "participant_id", participant_id)
        user = self._users.get(participant_id)
        if user is None:
            raise _invalid("participant_id is not a user", "participant_id", participant_id)
        if not user.accepts_dms:
            raise _ApiError(problem(403, "You are not permitted to send messages to this user."))
        event = self._store_dm(self.brand_user_id, participant_id, text)
        return json_response(
            201, {"data": {"dm_conversation_id": event.conversation_id, "dm_event_id": event.id_str}}
        )

    def _get_dm_events(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        participant_id = match["id"]
        conversation = _dm_conversation_id(self.brand_user_id, participant_id)
        wanted_types = _fields(request, "event_types")
        if wanted_types and "MessageCreate" not in wanted_types:
            events: list[_DmEvent] = []
        else:
            events = [e for e in self._dms if e.conversation_id == conversation]
        events.sort(key=lambda e: e.seq, reverse=True)
        max_results = _int_param(request, "max_results", 100, (1, 100))
        position = _token_param(request, "pagination_token")
        if position is not None:
            events = [e for e in events if e.seq < position]
        page, more = events[:max_results], len(events) > max_results
        fields = _fields(request, "dm_event.fields")
        expansions = _fields(request, "expansions")
        body: dict[str, Any] = {}
        if page:
            body["data"] = [self._dm_view(e, fields) for e in page]
        if "sender_id" in expansions and page:
            senders = {e.sender_id for e in page}
            user_fields = _fields(request, "user.fields")
            body["includes"] = {
                "users": [self._user_view(self._users[s], user_fields) for s in sorted(senders)]
            }
        meta: dict[str, Any] = {"result_count": len(page)}
        if more:
            meta["next_token"] = _encode_token(page[-1].seq)
        body["meta"] = meta
        return json_response(200, body)

    # --- views and paging ----------------------------------------------------------------

    def _tweet_page(
        self,
        request: SimRequest,
        candidates: list[_Tweet],
        bounds: tuple[int, int],
        default_max: int,
        token_name: str,
    ) -> SimResponse:
        since_id = _id_param(request, "since_id")
        until_id = _id_param(request, "until_id")
        max_results = _int_param(request, "max_results", default_max, bounds)
        position = _token_param(request, token_name)
        items = sorted((t for t in candidates if not t.deleted), key=lambda t: t.seq, reverse=True)
        items = [
            t
            for t in items
            if (since_id is None or t.seq > since_id)
            and (until_id is None or t.seq < until_id)
            and (position is None or t.seq < position)
        ]
        page, more = items[:max_results], len(items) > max_results
        tweet_fields = _fields(request, "tweet.fields") | _fields(request, "post.fields")
        user_fields = _fields(request, "user.fields")
        expansions = _fields(request, "expansions")
        body: dict[str, Any] = {}
        if page:
            body["data"] = [self._tweet_view(t, tweet_fields) for t in page]
        includes, errors = self._expand(page, expansions, tweet_fields, user_fields)
        if includes:
            body["includes"] = includes
        if errors:
            body["errors"] = errors
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta["newest_id"] = page[0].id
            meta["oldest_id"] = page[-1].id
        if more:
            meta["next_token"] = _encode_token(page[-1].seq)
        body["meta"] = meta
        return json_response(200, body)

    def _expand(
        self, page: list[_Tweet], expansions: set[str], tweet_fields: set[str], user_fields: set[str]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        user_ids: list[str] = []
        tweets: list[_Tweet] = []
        errors: list[dict[str, Any]] = []

        def want_user(user_id: str | None) -> None:
            if user_id is not None and user_id in self._users and user_id not in user_ids:
                user_ids.append(user_id)

        for tweet in page:
            if "author_id" in expansions:
                want_user(tweet.author_id)
            if "in_reply_to_user_id" in expansions:
                want_user(tweet.in_reply_to_user_id)
            if "referenced_tweets.id" in expansions:
                for ref_id in (tweet.in_reply_to_tweet_id, tweet.retweet_of):
                    if ref_id is None:
                        continue
                    ref = self._find_tweet(ref_id)
                    if ref is None or ref.deleted:
                        errors.append(
                            {
                                "value": ref_id,
                                "detail": f"Could not find tweet with referenced_tweets.id: [{ref_id}].",
                                "title": "Not Found Error",
                                "resource_type": "tweet",
                                "parameter": "referenced_tweets.id",
                                "resource_id": ref_id,
                                "type": _PROBLEM_BASE + "resource-not-found",
                            }
                        )
                    elif ref not in tweets:
                        tweets.append(ref)
        includes: dict[str, Any] = {}
        if user_ids:
            includes["users"] = [self._user_view(self._users[u], user_fields) for u in user_ids]
        if tweets:
            includes["tweets"] = [self._tweet_view(t, tweet_fields) for t in tweets]
        return includes, errors

    def _tweet_view(self, tweet: _Tweet, fields: set[str]) -> dict[str, Any]:
        if tweet.raw is not None:
            return copy.deepcopy(tweet.raw)
        view: dict[str, Any] = {"id": tweet.id, "text": tweet.text, "edit_history_tweet_ids": [tweet.id]}
        if "author_id" in fields and tweet.author_id is not None:
            view["author_id"] = tweet.author_id
        if "created_at" in fields:
            view["created_at"] = _iso(tweet.created_at)
        if "conversation_id" in fields:
            view["conversation_id"] = tweet.conversation_id
        if "lang" in fields and tweet.lang is not None:
            view["lang"] = tweet.lang
        if "in_reply_to_user_id" in fields and tweet.in_reply_to_user_id is not None:
            view["in_reply_to_user_id"] = tweet.in_reply_to_user_id
        if "referenced_tweets" in fields:
            refs = []
            if tweet.in_reply_to_tweet_id is not None:
                refs.append({"type": "replied_to", "id": tweet.in_reply_to_tweet_id})
            if tweet.retweet_of is not None:
                refs.append({"type": "retweeted", "id": tweet.retweet_of})
            if refs:
                view["referenced_tweets"] = refs
        if "entities" in fields:
            mentions = []
            for found in _MENTION_RE.finditer(tweet.text):
                user = self._user_named(found.group(1))
                entity: dict[str, Any] = {
                    "start": found.start(),
                    "end": found.end(),
                    "username": found.group(1),
                }
                if user is not None:
                    entity["id"] = user.id
                mentions.append(entity)
            if mentions:
                view["entities"] = {"mentions": mentions}
        if "reply_settings" in fields:
            view["reply_settings"] = "everyone"
        return view

    @staticmethod
    def _user_view(user: _User, fields: set[str]) -> dict[str, Any]:
        view: dict[str, Any] = {"id": user.id, "name": user.name, "username": user.username}
        if "created_at" in fields:
            view["created_at"] = _iso(user.created_at)
        if "receives_your_dm" in fields:
            view["receives_your_dm"] = user.accepts_dms
        if "protected" in fields:
            view["protected"] = False
        if "verified" in fields:
            view["verified"] = False
        if "description" in fields:
            view["description"] = ""
        return view

    @staticmethod
    def _dm_view(event: _DmEvent, fields: set[str]) -> dict[str, Any]:
        view: dict[str, Any] = {"id": event.id_str, "event_type": "MessageCreate", "text": event.text}
        if "sender_id" in fields:
            view["sender_id"] = event.sender_id
        if "created_at" in fields:
            view["created_at"] = _iso(event.created_at)
        if "dm_conversation_id" in fields:
            view["dm_conversation_id"] = event.conversation_id
        return view

    def _user_not_found(self, user_id: str) -> SimResponse:
        return json_response(
            200,
            {
                "errors": [
                    {
                        "value": user_id,
                        "detail": f"Could not find user with id: [{user_id}].",
                        "title": "Not Found Error",
                        "resource_type": "user",
                        "parameter": "id",
                        "resource_id": user_id,
                        "type": _PROBLEM_BASE + "resource-not-found",
                    }
                ]
            },
        )

    # --- state helpers (call with the lock held) -----------------------------------------

    def _next_seq(self, moment: datetime) -> int:
        snowflake = (int(moment.timestamp() * 1000) - TWITTER_EPOCH_MS) << 22
        self._last_seq = max(self._last_seq + 1, snowflake)
        return self._last_seq

    def _store_tweet(
        self,
        author_id: str,
        text: str,
        in_reply_to: str | None,
        lang: str | None,
        created_at: datetime | None,
        retweet_of: str | None,
    ) -> _Tweet:
        moment = created_at or self._clock.now()
        seq = self._next_seq(moment)
        conversation_id = str(seq)
        in_reply_to_user_id: str | None = None
        mention_ids = {user.id for user in map(self._user_named, _MENTION_RE.findall(text)) if user}
        if in_reply_to is not None:
            parent = self._require_tweet(in_reply_to)
            conversation_id = parent.conversation_id
            in_reply_to_user_id = parent.author_id
            if parent.author_id is not None and parent.author_id != author_id:
                mention_ids.add(parent.author_id)
        if retweet_of is not None:
            self._require_tweet(retweet_of)
        tweet = _Tweet(
            seq=seq,
            author_id=author_id,
            text=text,
            created_at=moment,
            conversation_id=conversation_id,
            in_reply_to_tweet_id=in_reply_to,
            in_reply_to_user_id=in_reply_to_user_id,
            retweet_of=retweet_of,
            lang=lang,
            mention_ids=frozenset(mention_ids),
        )
        self._tweets[seq] = tweet
        return tweet

    def _store_dm(self, sender_id: str, recipient_id: str, text: str) -> _DmEvent:
        now = self._clock.now()
        event = _DmEvent(
            seq=self._next_seq(now),
            conversation_id=_dm_conversation_id(sender_id, recipient_id),
            sender_id=sender_id,
            recipient_id=recipient_id,
            text=text,
            created_at=now,
        )
        self._dms.append(event)
        return event

    def _user_named(self, username: str) -> _User | None:
        lowered = username.lower()
        return next((u for u in self._users.values() if u.username.lower() == lowered), None)

    def _require_user(self, user_id: str) -> _User:
        user = self._users.get(user_id)
        if user is None:
            raise ValueError(f"unknown user {user_id!r}; add_user() it first")
        return user

    def _find_tweet(self, tweet_id: str) -> _Tweet | None:
        if not _ID_RE.match(tweet_id):
            return None
        return self._tweets.get(int(tweet_id))

    def _require_tweet(self, tweet_id: str) -> _Tweet:
        tweet = self._find_tweet(tweet_id)
        if tweet is None or tweet.deleted:
            raise ValueError(f"unknown tweet {tweet_id!r}")
        return tweet


def _dm_conversation_id(a: str, b: str) -> str:
    """One-to-one DM conversation ids are the two user ids, lower first, joined by '-'."""
    low, high = sorted((a, b), key=int)
    return f"{low}-{high}"


def _fields(request: SimRequest, name: str) -> set[str]:
    """Return a comma-separated query parameter as a set."""
    raw = request.param(name)
    return {part.strip() for part in raw.split(",") if part.strip()} if raw else set()


def _int_param(request: SimRequest, name: str, default: int, bounds: tuple[int, int]) -> int:
    """Parse a bounded integer parameter or raise an invalid-request problem."""
    raw = request.param(name)
    if raw is None:
        return default
    if not raw.isdigit() or not bounds[0] <= int(raw) <= bounds[1]:
        raise _invalid(
            f"The `{name}` query parameter value [{raw}] is not between {bounds[0]} and {bounds[1]}",
            name,
            raw,
        )
    return int(raw)


def _id_param(request: SimRequest, name: str) -> int | None:
    """Parse a tweet-id parameter or raise an invalid-request problem."""
    raw = request.param(name)
    if raw is None:
        return None
    if not _ID_RE.match(raw):
        raise _invalid(f"The `{name}` query parameter value [{raw}] is not valid", name, raw)
    return int(raw)


def _token_param(request: SimRequest, name: str) -> int | None:
    """Decode a pagination token or raise an invalid-request problem."""
    raw = request.param(name)
    if raw is None:
        return None
    try:
        return int(raw, 36)
    except ValueError as exc:
        raise _invalid(f"The `{name}` query parameter value [{raw}] is not valid", name, raw) from exc


def _json_object(request: SimRequest) -> dict[str, Any]:
    """Decode a JSON object body or raise a 400 problem."""
    try:
        body = request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise _ApiError(problem(400, f"Request body is not valid JSON: {exc}")) from exc
    if not isinstance(body, dict):
        raise _ApiError(problem(400, "Request body must be a JSON object"))
    return body
