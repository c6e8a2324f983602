"""The store tablet's self-registration window: a customer joins the program without a cashier.

Owns: :class:`KioskWindow` and :func:`run_kiosk`.  Full screen, touch only (on-screen keys of
:mod:`ui.keypad`), large type.  The steps:

1. **phone** — checked by the till's parser; a bad one is explained and changes nothing;
2. **SMS code** — ``Till.send_code(phone, "register")``; a countdown from ``resend_after_s``
   before a new code may be asked for; a wrong or expired code is explained on the step;
3. a phone that already belongs to a customer (identified once the code proved the phone) shows
   "you are already a member" and offers only what the profile lacks (``missing``) — submitted
   as a completion (``updated`` / ``already_exists``), never a second registration; otherwise
   **first name, birth date, e-mail** (optional);
4. **consents** — personal data (required; the terms' version is recorded), marketing by SMS and
   by e-mail (each optional, unticked);
5. **done** — what the service gave (the kiosk explains, the service decides), and the hand-off
   to the store's tills; back to the start by itself after ``done_s``.

Offline (the sync loop says so, or the code cannot be sent for want of a connection) the code
step is skipped and the registration is queued unverified; the done screen says what that means.
``idle_s`` without a touch wipes everything entered and returns to the first step.  Leaving kiosk
mode needs a senior cashier's PIN (a hidden corner button or a long press on the title).  Every
wait on the network or the database runs through :class:`ui.tasks.Tasks`; errors go to the step's
message line, never to a dialog.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from cashier.errors import UserFacingError
from cashier.i18n import _
from ui.tasks import Tasks

if TYPE_CHECKING:
    from cashier.accounts import Registered
    from cashier.till import CustomerView, Identified, Till
    from sync.runtime import Background, Status, TillRuntime

from ui.kiosk_steps import (  # format_birth: re-exported for the tests
    _ACTIVITY,
    DONE_S,
    IDLE_S,
    KIOSK_STYLE,
    AdminStep,
    Clock,
    CodeStep,
    ConsentsStep,
    DoneStep,
    MemberStep,
    PhoneStep,
    ProfileStep,
    _FormStep,
    _label,
    _LongPress,
    _Step,
    check_email,
    check_name,
    format_birth,  # noqa: F401
    parse_birth,
    points_text,
)


class KioskWindow(QWidget):
    """The self-registration screen of a store tablet (see the module's docstring)."""

    def __init__(
        self,
        folder: Path,
        *,
        idle_s: float = IDLE_S,
        done_s: float = DONE_S,
        admin_exit: bool = True,
        clock: Clock | None = None,
        budget: float | None = None,
        probe_every: float = 5.0,
    ) -> None:
        super().__init__()
        self.folder = folder
        self.clock = clock
        self.budget = budget
        self.probe_every = probe_every
        self.admin_exit = admin_exit
        self.done_s = done_s
        self.setWindowTitle(_("Join the loyalty program"))
        self.setStyleSheet(KIOSK_STYLE)
        self.tasks = Tasks(self)
        self.tasks.failed.connect(self._fail)
        self.runtime: TillRuntime | None = None
        self.background: Background | None = None
        self.status: Status | None = None
        self.terms_version = ""
        self.unlocked = False
        self.usable = True
        """False when the till's data did not open or the tablet is not enrolled: no PIN could be
        checked, so the window closes without one."""
        self._shut = False
        self._generation = 0
        self._busy = False
        self._resend_at = 0.0
        self._done_at = 0.0
        self._before_admin: QWidget | None = None
        # what the customer entered and what the service answered: wiped by start_over()
        self.phone: str | None = None
        self.otp_id: str | None = None
        self.token: str | None = None
        self.offline = False
        self.member: CustomerView | None = None
        self.registered: Registered | None = None
        self.handed_off: bool | None = None

        self._build()
        self.idle = QTimer(self)
        self.idle.setSingleShot(True)
        self.idle.setInterval(max(1, int(idle_s * 1000)))
        self.idle.timeout.connect(self.idle_timeout)
        self.done_timer = QTimer(self)
        self.done_timer.setSingleShot(True)
        self.done_timer.timeout.connect(self.start_over)
        self.ticker = QTimer(self)
        self.ticker.setInterval(1000)
        self.ticker.timeout.connect(self._tick)
        self.ticker.start()
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)
        self.resize(1280, 800)
        self.start_over()
        self._open()

    # -- building --------------------------------------------------------------------------------
    def _build(self) -> None:
        self.heading = _LongPress(_("Loyalty program"))
        self.heading.setObjectName("kioskTitle")
        self.heading.held.connect(self.open_admin)
        self.offline_banner = _label(
            _("No connection: you can join now and confirm the phone later."), "offline"
        )
        self.offline_banner.setVisible(False)
        self.corner = QPushButton("")
        self.corner.setObjectName("corner")
        self.corner.setFixedSize(64, 64)
        self.corner.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.corner.clicked.connect(self.open_admin)
        header = QHBoxLayout()
        header.setContentsMargins(24, 0, 0, 0)
        header.addWidget(self.heading)
        header.addWidget(self.offline_banner, 1, Qt.AlignmentFlag.AlignCenter)
        header.addWidget(self.corner, 0, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignRight)

        self.phone_page = PhoneStep()
        self.phone_page.submitted.connect(self.submit_phone)
        self.code_page = CodeStep()
        self.code_page.submitted.connect(self.submit_code)
        self.code_page.resend.connect(self.resend_code)
        self.code_page.back.connect(self.start_over)
        self.profile_page = ProfileStep()
        self.profile_page.submitted.connect(self.submit_profile)
        self.profile_page.back.connect(self.start_over)
        self.member_page = MemberStep()
        self.member_page.submitted.connect(self.submit_member)
        self.member_page.back.connect(self.start_over)
        self.consents_page = ConsentsStep()
        self.consents_page.submitted.connect(self.submit_consents)
        self.consents_page.back.connect(lambda: self._show(self.profile_page))
        self.done_page = DoneStep()
        self.done_page.finished.connect(self.start_over)
        self.admin_page = AdminStep()
        self.admin_page.submitted.connect(lambda: self.exit_with_pin(self.admin_page.pin.text()))
        self.admin_page.cancelled.connect(self.close_admin)
        self.pages = QStackedWidget()
        self.steps: tuple[_Step, ...] = (
            self.phone_page,
            self.code_page,
            self.profile_page,
            self.member_page,
            self.consents_page,
            self.done_page,
            self.admin_page,
        )
        for page in self.steps:
            self.pages.addWidget(page)
        for keys in (
            self.phone_page.keypad,
            self.code_page.keypad,
            self.admin_page.keypad,
            *(
                k
                for form in (self.profile_page, self.member_page)
                for k in (form.letters, form.digits)
            ),
        ):
            keys.typed.connect(self._activity)  # a key pressed by code counts as a touch too
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(header)
        layout.addWidget(self.pages, 1)

    # -- the till's runtime ----------------------------------------------------------------------
    def _open(self) -> None:
        folder, clock, budget = self.folder, self.clock, self.budget

        def open_runtime() -> tuple[TillRuntime, str]:
            from cashier.accounts import TERMS_VERSION
            from sync.runtime import TillRuntime

            runtime = TillRuntime.open(folder, clock=clock, budget=budget)
            self.runtime = runtime  # here: shutdown closes it even if the window is gone by then
            return runtime, TERMS_VERSION

        self.tasks.run(open_runtime, self._opened, self._open_failed)

    def _opened(self, got: tuple[TillRuntime, str]) -> None:
        runtime, self.terms_version = got
        if not runtime.enrolled:
            self.usable = False  # nothing to protect: it closes without a PIN
            self.phone_page.fail(
                _(
                    "This tablet is not connected to the loyalty service yet: ask the "
                    "administrator to enrol it (cashier enroll)."
                )
            )
            return
        from sync.runtime import Background

        self.background = Background(
            runtime,
            lambda status: self.tasks.post(self._status_changed, status),
            probe_every=self.probe_every,
            clock=self.clock,
        )
        self.background.start()

    def _open_failed(self, message: str) -> None:
        self.usable = False
        self.phone_page.fail(message)

    def _status_changed(self, status: Status) -> None:
        self.status = status
        self.offline_banner.setVisible(not status.online)

    def _till(self) -> Till:
        """The till (on the worker: its jobs run after the runtime's opening on the same lane)."""
        if self.runtime is None or not self.runtime.enrolled:
            raise UserFacingError(
                _("Registration is not available on this tablet right now: ask the staff.")
            )
        return self.runtime.till

    def _today(self) -> date:
        return (self.clock() if self.clock else datetime.now(UTC)).astimezone().date()

    # -- running work ----------------------------------------------------------------------------
    def _run(
        self,
        job: Callable[[], Any],
        on_done: Callable[[Any], None],
        step: _Step,
        *,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        """Run ``job`` on the till's worker; its result is dropped if the screen was wiped since
        (the customer walked away); an error goes to ``step``'s message line.  One at a time:
        a second tap while it runs does nothing (no registration twice)."""
        generation = self._generation
        self._busy = True
        step.say(_("One moment…"))

        def done(value: Any) -> None:
            if generation == self._generation:
                self._busy = False
                step.say("")
                on_done(value)

        def failed(message: str) -> None:
            if generation == self._generation:
                self._busy = False
                step.fail(message)
                if on_error is not None:
                    on_error()

        self.tasks.run(job, done, failed)

    def _fail(self, message: str) -> None:
        page = self.pages.currentWidget()
        if isinstance(page, _Step):
            page.fail(message)

    # -- steps ----------------------------------------------------------------------------------
    @property
    def step(self) -> str:
        """The current step's name (``phone``, ``code``, ``profile``, ``member``, ``consents``,
        ``done``, ``admin``)."""
        return self.pages.currentWidget().__class__.__name__.removesuffix("Step").lower()

    def _show(self, page: _Step) -> None:
        self.pages.setCurrentWidget(page)
        self._activity()
        if isinstance(page, _FormStep):
            page.first()

    def submit_phone(self) -> None:
        if self._busy:
            return
        text = self.phone_page.phone.text()

        def job() -> tuple[str, dict[str, Any] | None, Identified | None]:
            from cashier.identifiers import normalize_phone

            e164 = normalize_phone(text)  # a bad number: the parser's message, nothing sent
            till = self._till()
            sent = _send_code(till, e164)
            if sent is None:  # offline: no code; the cache says whether the number is known
                return e164, None, till.identify(e164)
            return e164, sent, None

        self._run(job, self._phone_done, self.phone_page)

    def _phone_done(self, got: tuple[str, dict[str, Any] | None, Identified | None]) -> None:
        self.phone, sent, found = got
        if sent is not None:
            self.offline = False
            self._code_sent(sent)
            self.code_page.start(str(sent.get("phone_masked") or _mask(self.phone)))
            self._show(self.code_page)
            self.code_page.code.setFocus()
            return
        self.offline = True
        if found is not None and found.customer is not None and not found.customer.local:
            self._known_offline()
            return
        self._show(self.profile_page)

    def _code_sent(self, sent: dict[str, Any]) -> None:
        self.otp_id = str(sent["otp_id"])
        self._resend_at = time.monotonic() + float(sent.get("resend_after_s") or 60)
        self._tick()

    def resend_code(self) -> None:
        if self._busy or self.phone is None or time.monotonic() < self._resend_at:
            return
        phone = self.phone

        def job() -> dict[str, Any]:
            return self._till().send_code(phone, "register")

        def done(sent: dict[str, Any]) -> None:
            self._code_sent(sent)
            self.code_page.code.clear()
            self.code_page.say(_("A new code is on its way."))

        self._run(job, done, self.code_page)

    def submit_code(self) -> None:
        if self._busy or self.otp_id is None or self.phone is None:
            return
        otp_id, code, phone = self.otp_id, self.code_page.code.text(), self.phone
        if not code.strip():
            self.code_page.fail(_("Enter the code from the SMS."))
            return

        def job() -> tuple[str, Identified]:
            from cashier.till import TillError

            till = self._till()
            try:
                token = till.verify_code(otp_id, code)
            except TillError as exc:
                raise UserFacingError(code_problem(exc)) from None
            return token, till.identify(phone)

        # a wrong or expired code leaves the customer here, with the message and an empty field
        self._run(job, self._code_done, self.code_page, on_error=self.code_page.code.clear)

    def _code_done(self, got: tuple[str, Identified]) -> None:
        self.token, found = got
        customer = found.customer
        if customer is not None and not customer.local:
            self.member = customer
            self.member_page.start(customer)
            self._show(self.member_page)
            return
        self._show(self.profile_page)

    def submit_profile(self) -> None:
        page = self.profile_page
        try:
            check_name(page.name.text())
            parse_birth(page.birth.text(), self._today())
            check_email(page.email.text())
        except UserFacingError as exc:
            page.fail(exc.message)
            return
        page.say("")
        self.consents_page.start(self.terms_version, email_given=bool(page.email.text().strip()))
        self._show(self.consents_page)

    def submit_consents(self) -> None:
        if self._busy or self.phone is None:
            return
        c = self.consents_page
        if not c.pd.box.isChecked():
            c.fail(_("To join, tick your consent to the processing of personal data."))
            return
        p = self.profile_page
        fields: dict[str, Any] = {
            "phone": self.phone,
            "first_name": p.name.text().strip(),
            "birth_date": parse_birth(p.birth.text(), self._today()),
            "email": check_email(p.email.text()),
            "pd_consent": True,
            "sms_consent": c.sms.box.isChecked(),
            "email_consent": c.mail.box.isChecked() and bool(p.email.text().strip()),
            "terms_version": self.terms_version,
            "confirmation_token": self.token,
        }
        self._register(fields, c)

    def submit_member(self) -> None:
        if self._busy or self.phone is None or self.member is None:
            return
        m = self.member_page
        try:
            birth = parse_birth(m.birth.text(), self._today()) if m.birth.text() else None
            email = check_email(m.email.text())
        except UserFacingError as exc:
            m.fail(exc.message)
            return
        if self.token is None:  # offline: nothing to prove the phone with; nothing is sent
            self._known_offline()
            return
        fields = {
            "phone": self.phone,
            "birth_date": birth,
            "email": email,
            "confirmation_token": self.token,
        }
        self._register(fields, m, member=True)

    def _register(self, fields: dict[str, Any], step: _Step, *, member: bool = False) -> None:
        def job() -> Registered | None:
            from cashier.accounts import Form, register

            till = self._till()
            if member and not till.online:  # a completion needs the service; never a queued copy
                return None
            return register(till, Form(**fields))

        def done(reg: Registered | None) -> None:
            if reg is None:
                self._known_offline()
            else:
                self._registered(reg)

        self._run(job, done, step)

    def _registered(self, reg: Registered) -> None:
        self.registered = reg
        self.token = None  # spent
        if reg.status == "queued" and self.background is not None:
            self.background.wake()
        self._show_done(*describe(reg))
        if not reg.customer.local:
            self._hand_off(reg.customer.id)
        else:
            self._handed(False)

    def _known_offline(self) -> None:
        """Offline, and this number is already in the program: who it is stays private (the
        phone is not proved); the cashier finds the customer by the number."""
        self._show_done(
            _("This number is already in the program"),
            "",
            _("There is no connection right now, so your details cannot be changed here."),
            "",
        )
        self._handed(False)

    def _hand_off(self, customer_id: str) -> None:
        def job() -> bool:
            from cashier.accounts import hand_off

            return hand_off(self._till(), customer_id)

        generation = self._generation

        def failed(message: str) -> None:
            if generation == self._generation:
                self._handed(False)

        def done(handed: bool) -> None:
            if generation == self._generation:
                self._handed(handed)

        self.tasks.run(job, done, failed, quiet=True)

    def _handed(self, handed: bool) -> None:
        self.handed_off = handed
        self.done_page.handoff.setText(
            _("Go to the till: the cashier will see you.")
            if handed
            else _("At the till, tell the cashier your phone number.")
        )

    def _show_done(self, headline: str, bonus: str, details: str, unverified: str) -> None:
        self.done_page.show_text(headline, bonus, details, unverified)
        self._show(self.done_page)
        self._done_at = time.monotonic() + self.done_s
        self.done_timer.start(max(1, int(self.done_s * 1000)))
        self._tick()

    # -- time ------------------------------------------------------------------------------------
    def _tick(self) -> None:
        now = time.monotonic()
        if self.otp_id is not None:
            self.code_page.show_left(max(0, int(self._resend_at - now + 0.999)))
        if self.pages.currentWidget() is self.done_page:
            left = max(0, int(self._done_at - now + 0.999))
            self.done_page.countdown.setText(
                _("Back to the start in {s} s.").format(s=left) if left else ""
            )

    def _activity(self) -> None:
        if not self._shut:
            self.idle.start()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in _ACTIVITY:
            self._activity()
        return False

    def idle_timeout(self) -> None:
        """Nobody touched the screen for ``idle_s``: forget everything, back to the start."""
        if self._busy:  # the customer is waiting for the service's answer, not gone
            self.idle.start()
            return
        if self.pages.currentWidget() is self.phone_page and not self.phone_page.phone.text():
            return
        self.start_over()

    def _forget(self) -> None:
        self.phone = None
        self.otp_id = None
        self.token = None
        self.offline = False
        self.member = None
        self.registered = None
        self.handed_off = None

    def start_over(self) -> None:
        """Wipe every field and what the till was told (code, token), back to the phone."""
        self._generation += 1  # results of work still running are dropped
        self._busy = False
        self._forget()
        self._resend_at = 0.0
        self._before_admin = None
        self.done_timer.stop()
        for page in self.steps:
            page.wipe()
        self.pages.setCurrentWidget(self.phone_page)
        self.phone_page.phone.setFocus()
        self._activity()

    # -- leaving kiosk mode ------------------------------------------------------------------------
    def open_admin(self) -> None:
        if self.pages.currentWidget() is not self.admin_page:
            self._before_admin = self.pages.currentWidget()
        self.admin_page.wipe()
        self._show(self.admin_page)
        self.admin_page.pin.setFocus()

    def close_admin(self) -> None:
        self.admin_page.wipe()
        back = self._before_admin or self.phone_page
        self._before_admin = None
        self.pages.setCurrentWidget(back)

    def exit_with_pin(self, pin: str) -> None:
        """Leave kiosk mode with a senior cashier's PIN (checked by the till, off this thread)."""
        self.admin_page.pin.clear()
        if not pin:
            return

        def job() -> str:
            return self._till().login(pin).role

        def done(role: str) -> None:
            if role != "senior":
                self.admin_page.fail(_("Only a senior cashier can close the kiosk."))
                return
            self.unlocked = True
            self.close()

        self.tasks.run(job, done, self.admin_page.fail)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.admin_exit and self.usable and not self.unlocked and not self._shut:
            event.ignore()
            self.open_admin()
            return
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the timers, the sync loop and the workers; release the till's store.  After this
        the window closes without a PIN (for the program that owns it, and for tests)."""
        if self._shut:
            return
        self._shut = True
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        for timer in (self.idle, self.done_timer, self.ticker):
            timer.stop()
        if self.background is not None:
            self.background.stop()
            self.background = None
        self.tasks.shutdown()
        if self.runtime is not None:
            self.runtime.close()
            self.runtime = None


def _send_code(till: Till, e164: str) -> dict[str, Any] | None:
    """Send the registration code; ``None`` when the till is offline (no code: the registration
    goes on without it).  A refusal by the service (too many SMS, say) is raised with its reason."""
    from cashier.gateway import Ambiguous, Unreachable
    from cashier.till import TillError

    if not till.online:
        return None
    try:
        return till.send_code(e164, "register")
    except TillError as exc:
        if not till.online or isinstance(exc.__context__, (Unreachable, Ambiguous)):
            till.went_offline()
            return None
        raise


def code_problem(exc: UserFacingError) -> str:
    """What the customer reads when the SMS code was not accepted: the service's reason in the
    customer's words (the till's own message is written for a cashier), else the till's."""
    from cashier.gateway import Rejected

    cause = exc.__context__  # the service's refusal the till explained
    reason = cause.code if isinstance(cause, Rejected) else exc.code
    if reason == "otp_invalid":
        return _("This code is not right: check the SMS and enter the code again.")
    if reason == "otp_expired":
        return _("The code has expired: ask for a new one with the button below.")
    if reason == "otp_attempts_exceeded":
        return _("Too many wrong codes: ask for a new one with the button below.")
    return exc.message


def _mask(e164: str) -> str:
    return f"{e164[:-7]} ***-**-{e164[-2:]}" if len(e164) > 7 else e164


def describe(reg: Registered) -> tuple[str, str, str, str]:
    """What the done screen says: headline, the points given, details, the unverified note."""
    c = reg.customer
    name = c.display_name
    bonus_lines = []
    if reg.welcome_points:
        bonus_lines.append(_("Welcome! +{points}").format(points=points_text(reg.welcome_points)))
    if reg.profile_points:
        bonus_lines.append(
            _("+{points} for your profile").format(points=points_text(reg.profile_points))
        )
    bonus = "\n".join(bonus_lines)
    balance = (
        _("On your account: {points}.").format(points=points_text(c.available))
        if c.available is not None and reg.status in ("updated", "already_exists")
        else ""
    )
    if reg.status == "queued":
        headline = _("You are registered, {name}!").format(name=name)
        details = _(
            "There is no connection right now: your registration will reach the program as soon "
            "as the tablet is back online."
        )
    elif reg.status == "updated":
        headline = _("Your profile is updated, {name}!").format(name=name)
        details = balance
    elif reg.status == "already_exists":
        headline = _("You are already a member, {name}").format(name=name)
        details = balance
    else:
        headline = _("Welcome to the program, {name}!").format(name=name)
        details = "" if reg.welcome_points else _("You're in. Points from your first purchase.")
    unverified = (
        ""
        if c.verified
        else _(
            "Your account is not verified yet: it already earns points, but you can spend them "
            "and get the welcome bonus only after your phone is confirmed with an SMS code at a "
            "till or on this tablet."
        )
    )
    return headline, bonus, details, unverified


def run_kiosk(folder: Path, *, admin_exit: bool = True) -> int:
    """The store tablet's registration screen, full screen, until a senior cashier closes it
    (``admin_exit=False``: it closes like any window, for a trial on a desktop)."""
    from ui.app import make_app

    app = make_app()
    window = KioskWindow(folder, admin_exit=admin_exit)
    window.showFullScreen()
    return int(app.exec())  # type: ignore[attr-defined]
