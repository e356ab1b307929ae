"""What a call says: TwiML for outbound family calls and the voice status line (issue 13).

Twilio's ``<Say>`` speaks English, Spanish, French and Portuguese with Amazon Polly voices;
it has no Haitian Creole voice, so Creole calls ``<Play>`` a recording shipped with the
project (``tracker/static/voice/ht/``, synthetic drafts that need a native recording — see the
README) and carry no name or detail. The caller translates the status line's words
(``notifications.messages.VOICE_PROMPTS``): this module is a leaf the transports may use.
"""

from __future__ import annotations

from dataclasses import dataclass

from twilio.twiml.voice_response import Gather, VoiceResponse


@dataclass(frozen=True)
class Voice:
    language: str  # Twilio's <Say language=…>
    voice: str  # Twilio's <Say voice=…>


# Languages Twilio can speak, with one Amazon Polly voice each (Twilio's TTS voice list).
VOICES: dict[str, Voice] = {
    "en": Voice("en-US", "Polly.Joanna"),
    "es": Voice("es-US", "Polly.Lupe"),
    "fr": Voice("fr-FR", "Polly.Lea"),
    "pt": Voice("pt-BR", "Polly.Camila"),
}
# Languages with no Twilio voice: recorded files, one per message kind and prompt.
RECORDED = frozenset({"ht"})
RECORDINGS_PATH = "/static/voice"
# The files shipped for each recorded language (``scripts/make_voice_recordings.py``).
RECORDED_CLIPS = (
    "decision_granted",
    "decision_denied",
    "released",
    "transferred_family",
    "menu",
    "no_input",
    "status",
    "unknown",
)

# Each language says its own name: no translation.
LANGUAGE_MENU = "For English, press 1. Para español, oprima 2. Pou kreyòl, peze 3. Pour le français, appuyez sur 4. Para português, pressione 5."  # noqa: E501
# Digits of the language menu.
MENU_LANGUAGES = {"1": "en", "2": "es", "3": "ht", "4": "fr", "5": "pt"}


def base_language(tag: str) -> str:
    return (tag or "en").split("-")[0].lower()


def voice_for(language: str) -> Voice | None:
    """Twilio's voice for ``language``, or None when it has none (use a recording)."""
    return VOICES.get(base_language(language))


def recording_url(public_base_url: str, language: str, clip: str) -> str:
    return f"{public_base_url.rstrip('/')}{RECORDINGS_PATH}/{base_language(language)}/{clip}.wav"


def _speak(node: VoiceResponse | Gather, text: str, language: str, clip: str, base: str) -> None:
    voice = voice_for(language)
    if voice is None:
        node.play(recording_url(base, language, clip))
    else:
        node.say(text, language=voice.language, voice=voice.voice)


def call_twiml(body: str, language: str, kind: str, public_base_url: str) -> str:
    """The TwiML of an outbound family call: the message twice (people miss the start)."""
    response = VoiceResponse()
    for _ in range(2):
        _speak(response, body, language, kind, public_base_url)
        response.pause(length=1)
    return str(response)


def status_menu(language: str, menu: str, no_input: str, action: str, public_base_url: str) -> str:
    """A known caller: a one-digit menu in their language (``menu``, ``no_input``: its
    translated words)."""
    response = VoiceResponse()
    voice = voice_for(language)
    extra = {"language": voice.language} if voice is not None else {}
    gather = Gather(num_digits=1, action=action, method="POST", timeout=8, **extra)
    _speak(gather, menu, language, "menu", public_base_url)
    response.append(gather)
    _speak(response, no_input, language, "no_input", public_base_url)
    return str(response)


def language_menu(action: str, no_input: str) -> str:
    """An unknown caller: which language to go on in (they learn nothing about any case)."""
    response = VoiceResponse()
    gather = Gather(num_digits=1, action=action, method="POST", timeout=8)
    gather.say(LANGUAGE_MENU, language="en-US", voice=VOICES["en"].voice)
    response.append(gather)
    response.say(no_input, language="en-US", voice=VOICES["en"].voice)
    return str(response)


def spoken(text: str, language: str, clip: str, public_base_url: str) -> str:
    """A spoken answer, then the call ends."""
    response = VoiceResponse()
    _speak(response, text, language, clip, public_base_url)
    response.hangup()
    return str(response)
