"""Synthesise the Haitian Creole voice clips Twilio has no <Say> voice for (issue 13).

    python3 scripts/make_voice_recordings.py   # needs espeak-ng (apt-get install espeak-ng)

Writes ``tracker/static/voice/ht/<clip>.wav`` (8 kHz mono 16-bit PCM, telephone quality), the
files ``notifications.voice`` plays. These are robotic espeak-ng drafts of developer-written
Creole: replace them with a native speaker's recordings (same names, WAV or re-pointed MP3)
before relying on them. The clips carry no name and no case detail: one recording serves
every family.
"""

from __future__ import annotations

import audioop
import io
import shutil
import subprocess
import wave
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tracker" / "static" / "voice" / "ht"
RATE = 8000

# Drafted by the developers, awaiting review and recording by a native Haitian Creole speaker.
CLIPS = {
    "decision_granted": (
        "Bonjou. Se ekip legal la k ap rele ou. Bon nouvèl: ICE aksepte demann nan pou moun "
        "ou a. Avoka a ap kontakte ou pou pwochen etap yo."
    ),
    "decision_denied": (
        "Bonjou. Se ekip legal la k ap rele ou. ICE refize demann nan pou moun ou a. Yo ka fè "
        "apèl. Avoka a ap kontakte ou pou pwochen etap yo."
    ),
    "released": (
        "Bonjou. Se ekip legal la k ap rele ou. Moun ou a soti nan detansyon. Ekip la ap "
        "kontakte ou pou pwochen etap yo."
    ),
    "transferred_family": (
        "Bonjou. Se ekip legal la k ap rele ou. Yo transfere moun ou a nan yon lòt sant "
        "detansyon. Ekip la ap kontakte ou."
    ),
    "menu": "Peze 1 pou tande kote dosye ou ye. Peze 2 pou tande sa ankò.",
    "no_input": "Nou pa resevwa repons. Orevwa.",
    "status": (
        "Nou jwenn dosye ou. Pou detay, voye mesaj ESTATI nan menm nimewo a, oswa rele liy èd "
        "k ap ede ou a."
    ),
    "unknown": (
        "Liy sa a bay nouvèl sou dosye fanmi yon liy èd ap travay avè yo. Nou pa jwenn nimewo "
        "ou. Tanpri rele liy èd k ap ede ou a."
    ),
}


def synthesise(text: str) -> bytes:
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise SystemExit("espeak-ng is not installed (apt-get install espeak-ng)")
    wav = subprocess.run(  # noqa: S603 - fixed arguments, the texts above
        [binary, "-v", "ht", "-s", "140", "--stdout", text], check=True, capture_output=True
    ).stdout
    with wave.open(io.BytesIO(wav)) as source:
        frames = source.readframes(source.getnframes())
        width, channels, rate = source.getsampwidth(), source.getnchannels(), source.getframerate()
    if channels == 2:
        frames = audioop.tomono(frames, width, 0.5, 0.5)
    frames, _ = audioop.ratecv(frames, width, 1, rate, RATE, None)
    out = io.BytesIO()
    with wave.open(out, "wb") as target:
        target.setnchannels(1)
        target.setsampwidth(width)
        target.setframerate(RATE)
        target.writeframes(frames)
    return out.getvalue()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in CLIPS.items():
        path = OUT / f"{name}.wav"
        path.write_bytes(synthesise(text))
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
