"""What a password must be: at least 12 characters and not guessable (zxcvbn score ≥ 3).

zxcvbn (Dropbox's estimator, maintained on PyPI) knows common passwords, names, dictionary
words, keyboard walks, dates and l33t substitutions; the user's own e-mail and name are given
to it so that "maria.lopez2026" is refused for Maria López.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from zxcvbn import zxcvbn

from tracker.i18n import N_

MIN_LENGTH = 12
# zxcvbn scores 0–4; 3 is "safely unguessable: moderate protection from offline slow-hash
# attacks" (about 10^8 guesses), enough behind argon2 and the login throttle.
MIN_SCORE = 3
# zxcvbn's run time grows with the length; nobody types more than this.
MAX_LENGTH = 200


def _squash(value: str) -> str:
    return re.sub(r"[\W_]+", "", value.casefold())


def _hints(user_inputs: Iterable[str | None]) -> list[str]:
    hints: list[str] = []
    for value in user_inputs:
        if not value:
            continue
        hints.append(value)
        # The parts of an e-mail or a name are guessed separately too.
        hints.extend(part for part in re.split(r"[\s@._+-]+", value) if len(part) >= 3)
    return hints


def problem(password: str, user_inputs: Iterable[str | None] = ()) -> str | None:
    """Why ``password`` may not be used, in words for the person choosing it; None if fine."""
    if len(password) < MIN_LENGTH:
        return N_(
            "use at least {n} characters (a few unrelated words are easy to remember)"
        ).format(n=MIN_LENGTH)
    if len(password) > MAX_LENGTH:
        return N_("use at most {n} characters").format(n=MAX_LENGTH)
    inputs = [value for value in user_inputs if value]
    folded = _squash(password)
    for value in inputs:
        # zxcvbn still scores "maria.lopez2026" highly for maria.lopez@…: refuse it outright.
        whole = _squash(value.partition("@")[0])
        if len(whole) >= 4 and whole in folded:
            return N_("do not use your name or e-mail address in it")
    result = zxcvbn(password, user_inputs=_hints(inputs))
    if int(result["score"]) >= MIN_SCORE:
        return None
    feedback = result.get("feedback") or {}
    parts = [str(feedback.get("warning") or "").strip()]
    parts.extend(str(s).strip() for s in feedback.get("suggestions") or [])
    detail = " ".join(p if p.endswith(".") else p + "." for p in parts if p)
    # zxcvbn's own advice (``detail``) is English only.
    return N_("this password is too easy to guess.") + (f" {detail}" if detail else "")
