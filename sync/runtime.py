"""A till put together from its data folder: store, gateway, sender, puller, ``Till``; its
background sync loop; and what its status line says.

Owns: :class:`TillRuntime` (one per data folder; the window, the command line and the tests wire a
till through it), :func:`enroll` (a one-time code exchanged for the till's key), the rotation of
that key before it expires (:meth:`TillRuntime.renew_token_if_due`), :class:`Status` and
:class:`Background` (the loop that sends the queue, probes the service while offline, renews the
key and pulls rules, customers, goods and cashiers every minute).  No Qt: the window runs the loop
on its own thread and receives :class:`Status` values.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import delete

from cashier.errors import UserFacingError
from cashier.gateway import GatewayError, Rejected
from cashier.i18n import _
from cashier.store.db import Store, open_store
from cashier.store.models import CachedCard, CachedCoupon, CachedCustomer, Meta, Rules
from cashier.till import IN_SALE_BUDGET, Till, TillError
from sync.client import HttpGateway
from sync.credentials import load_token, save_token
from sync.puller import PINNED_WALLET_KEYS, Probe, Puller
from sync.sender import Sender

Clock = Callable[[], datetime]
log = logging.getLogger("sync.runtime")

TOKEN_EXPIRES = "token_expires_at"
"""The store's meta key for when the till's key expires (ISO 8601, the service's word)."""
RENEW_BEFORE = timedelta(days=30)
"""The till rotates its key once it expires within this (by the till's clock)."""
RENEW_RETRY_S = 600.0
"""At most one rotation attempt per this many seconds (a failed one is tried again after it)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def read_meta(store: Store, key: str) -> str | None:
    with store.read() as s:
        row = s.get(Meta, key)
        return row.value if row else None


@dataclass
class TillRuntime:
    """Everything one till runs on; :meth:`close` releases the store (and its folder lock)."""

    folder: Path
    store: Store
    gateway: HttpGateway | None
    till: Till
    sender: Sender | None
    puller: Puller | None
    server: str | None = None
    token: str | None = field(default=None, repr=False)
    clock: Clock = field(default=_utc_now, repr=False)
    _renew_not_before: float = field(default=0.0, repr=False)

    @classmethod
    def open(
        cls,
        folder: Path,
        *,
        clock: Clock | None = None,
        budget: float | None = None,
        sender_delays: tuple[float, float] | None = None,
    ) -> TillRuntime:
        """``clock`` and ``budget`` default to the wall clock and the in-sale budget."""
        clock = clock or _utc_now
        budget = IN_SALE_BUDGET if budget is None else budget
        store = open_store(folder)
        try:
            server = read_meta(store, "server_url")
            token = load_token(folder)
            # No connect retries: within a sale the till falls back to its offline path instead.
            # An address in clear to another computer is refused here (InsecureServer).
            gateway = (
                HttpGateway(server, token, transport=httpx.HTTPTransport(retries=0))
                if server and token
                else None
            )
        except BaseException:
            store.close()
            raise
        sender = None
        if gateway is not None:
            base, cap = sender_delays or (2.0, 300.0)
            sender = Sender(store, gateway, clock=clock, base_delay=base, max_delay=cap)
        puller = Puller(store, gateway, clock=clock) if gateway else None
        till = Till(
            store, gateway, clock=clock, budget=budget, deliver=sender.deliver if sender else None
        )
        return cls(folder, store, gateway, till, sender, puller, server, token, clock)

    @property
    def enrolled(self) -> bool:
        return self.gateway is not None

    def meta(self, key: str) -> str | None:
        return read_meta(self.store, key)

    def renew_token_if_due(self) -> bool:
        """Rotate the till's key when it expires within :data:`RENEW_BEFORE` (by the till's
        clock), or when its expiry is not known (a till enrolled before keys expired):
        ``POST /devices/token``, the new key saved with the till's credentials before it is
        used, its expiry kept in the store's meta.  Whether the key was renewed.

        The till cannot lock itself out: the service keeps accepting the old key until the new
        one has been used (docs/protocol.md N), so a lost answer, a keyring that refuses the new
        key or a crash before it was saved leaves the old key working, and the rotation is tried
        again after :data:`RENEW_RETRY_S`.  Only a failure to write the meta raises (the new key
        is in use by then).
        """
        if self.gateway is None or time.monotonic() < self._renew_not_before:
            return False
        expires = _parse_time(self.meta(TOKEN_EXPIRES))
        if expires is not None and expires - self.clock() > RENEW_BEFORE:
            return False
        self._renew_not_before = time.monotonic() + RENEW_RETRY_S
        try:
            reply = self.gateway.renew_token()
            token = str(reply.body["token"])
            save_token(self.folder, token)
        except (GatewayError, UserFacingError, OSError) as exc:
            log.warning("the till's key was not renewed: %s", getattr(exc, "message", exc))
            return False
        self.gateway.use_token(token)
        self.token = token
        with self.store.write() as s:
            s.merge(Meta(key=TOKEN_EXPIRES, value=str(reply.body["token_expires_at"])))
            s.merge(Meta(key="token_renewed_at", value=self.clock().isoformat()))
        return True

    def close(self) -> None:
        if self.gateway is not None:
            self.gateway.close()
        self.store.close()


def _parse_time(text: str | None) -> datetime | None:
    """An aware datetime from the meta, or None (absent, or not a datetime with its zone)."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def enroll(folder: Path, server: str, code: str, name: str = "till") -> dict[str, str]:
    """Exchange a one-time enrolment code for the till's key; store the key and the identity.

    Enrolling a folder again replaces its key and identity in the meta and nothing else: the
    queue, its sequence numbers and the cached data stay.  With a code from ``processing device
    rotate`` the service keeps the device (id, sequence numbers), so the queue goes on as before.

    Raises :class:`TillError` with what happened and what to do when the service refuses or does
    not answer; nothing is stored then.
    """
    server = server.strip().rstrip("/")
    if not server.startswith(("http://", "https://")):
        raise TillError(
            _("The server address must start with http:// or https://, e.g. {example}.").format(
                example="https://192.168.1.10:8765"
            )
        )
    if not code.strip():
        raise TillError(_("Enter the enrolment code the administrator gave you."))
    gateway = HttpGateway(server)
    try:
        reply = gateway.enroll(code.strip(), name)
    except Rejected as exc:
        raise TillError(
            _("The service refused the code: {reason}").format(reason=exc.message)
        ) from None
    except GatewayError as exc:
        raise TillError(
            _("The service at {url} did not answer: {reason}").format(
                url=server, reason=exc.message
            )
        ) from None
    finally:
        gateway.close()
    body = reply.body
    store = open_store(folder)
    try:
        save_token(folder, body["token"])
        with store.write() as s:
            before = s.get(Meta, "chain_id")
            if before is not None and before.value != body["chain_id"]:
                # another chain's customers are not this till's any more; its own come afresh
                s.execute(delete(CachedCard))
                s.execute(delete(CachedCoupon))
                s.execute(delete(CachedCustomer).where(CachedCustomer.local.is_(False)))
                s.execute(delete(Meta).where(Meta.key == "customers_cursor"))
            for key, value in (
                ("server_url", server),
                ("device_id", body["device_id"]),
                ("store_id", body["store_id"]),
                ("store_name", body["store_name"]),
                ("chain_id", body["chain_id"]),
                ("enrolled_at", datetime.now(UTC).isoformat()),
            ):
                s.merge(Meta(key=key, value=value))
            # the wallet keys the service lists now are the ones this till trusts from here on
            pinned = [
                {"kid": k["kid"], "public_key": k["public_key"]}
                for k in body.get("wallet_keys") or []
            ]
            s.merge(Meta(key=PINNED_WALLET_KEYS, value=json.dumps(pinned)))
            rules = s.get(Rules, 1)
            if rules is not None:  # keys taken before are trusted no more; the next pull asks
                rules.wallet_keys = {"keys": [], "tag": "enrolled"}
            expires = body.get("token_expires_at")
            stale = s.get(Meta, TOKEN_EXPIRES)
            if expires:
                s.merge(Meta(key=TOKEN_EXPIRES, value=str(expires)))
            elif stale is not None:  # a service without key expiry: nothing known
                s.delete(stale)
    finally:
        store.close()
    return {k: str(body[k]) for k in ("device_id", "store_id", "store_name", "chain_id")}


@dataclass(frozen=True)
class Status:
    """What the status bar shows, read off the store and the last probe."""

    online: bool
    offline_since: datetime | None
    queued: int
    oldest: datetime | None
    review: int
    last_push_at: str | None
    last_pull_at: str | None
    skew_s: float | None
    skewed: bool
    database: str
    server: str | None
    last_error: str | None = None
    sync_counts: dict[str, int] = field(default_factory=dict)


def read_status(
    runtime: TillRuntime,
    probe: Probe | None,
    *,
    offline_since: datetime | None = None,
    last_error: str | None = None,
) -> Status:
    q = runtime.till.queue_status()
    return Status(
        online=bool(probe and probe.online),
        offline_since=offline_since,
        queued=q["depth"],
        oldest=q["oldest"],
        review=q["review"],
        last_push_at=runtime.meta("last_push_at"),
        last_pull_at=runtime.meta("last_pull_at"),
        skew_s=probe.skew_s if probe else None,
        skewed=bool(probe and probe.skewed),
        database="ok" if runtime.store.healthy else (runtime.store.problem or "?"),
        server=runtime.meta("server_url"),
        last_error=last_error,
    )


class Background:
    """The till's sync loop: send the queue, probe the service, pull every ``pull_every`` s.

    ``on_status`` is called from the loop's thread after every round; it must not block.  The
    loop never raises: errors become the status's ``last_error``.
    """

    def __init__(
        self,
        runtime: TillRuntime,
        on_status: Callable[[Status], None],
        *,
        probe_every: float = 5.0,
        pull_every: float = 60.0,
        clock: Clock | None = None,
    ) -> None:
        self.runtime = runtime
        self.on_status = on_status
        self.probe_every = probe_every
        self.pull_every = pull_every
        self.clock = clock or _utc_now
        self.stop_event = threading.Event()
        self.wake_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._offline_since: datetime | None = None
        self._last_pull = 0.0
        self._last_error: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="till-sync", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Do a round now (after a sale, or when the cashier asks to sync)."""
        self.wake_event.set()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the loop; whether its thread ended within ``timeout``."""
        self.stop_event.set()
        self.wake_event.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                status = self.round()
            except Exception as exc:  # noqa: BLE001 - the loop reports, never dies
                self._last_error = str(exc) or type(exc).__name__
                status = read_status(
                    self.runtime,
                    None,
                    offline_since=self._offline_since,
                    last_error=self._last_error,
                )
            self.on_status(status)
            self.wake_event.wait(self.probe_every)
            self.wake_event.clear()

    def round(self) -> Status:
        """One round: probe; when online send the queue and (every minute) pull."""
        rt = self.runtime
        if rt.puller is None or rt.sender is None:
            return read_status(rt, None, last_error=_("The till is not enrolled."))
        probe = rt.puller.probe()
        if probe.online:
            if self._offline_since is not None:
                rt.sender.reset_backoff()
            self._offline_since = None
            rt.till.back_online()
            got = rt.sender.drain()
            self._last_error = got.error if got.error and got.error != "busy" else None
            rt.renew_token_if_due()
            if time.monotonic() - self._last_pull >= self.pull_every:
                rt.puller.all()
                self._last_pull = time.monotonic()
        else:
            if self._offline_since is None:
                self._offline_since = self.clock()
            rt.till.went_offline()
            self._last_error = probe.message
        return read_status(
            rt, probe, offline_since=self._offline_since, last_error=self._last_error
        )
