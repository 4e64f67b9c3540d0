"""Create a secret file if it does not exist yet (used by entrypoint.sh).

    make_secret.py master-key PATH   the wallet's keyring secret, in the format
                                     guichet_wallet.crypto.MasterKeyring.from_secret
                                     reads (the one `make run` writes too):
                                     `k1:<base64 of 32 random bytes>`
    make_secret.py token PATH        a random URL-safe token (the gateway's
                                     cookie-signing key, var/secrets/gateway_secret_key)

An existing non-empty file is never touched. Race-free: the secret is written to a
private temporary file in the same directory, then hard-linked to the final name; link(2)
fails if the name exists, so when several replicas start together exactly one secret wins
and all of them read it.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
import tempfile
from pathlib import Path

KEY_ID = "k1"
KEY_BYTES = 32
KINDS = {
    "master-key": lambda: f"{KEY_ID}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode('ascii')}",
    "token": lambda: secrets.token_urlsafe(48),
}
WARNINGS = {
    "master-key": "Back it up: without it the documents stored in the wallets cannot be read.",
    "token": "",
}


def ensure_secret(path: Path, kind: str) -> bool:
    """Create the secret file at `path` unless it exists; True if this call created it."""
    if path.exists() and path.stat().st_size > 0:
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(KINDS[kind]() + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o400)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(tmp)


def main(argv: list[str]) -> int:
    if len(argv) != len(("prog", "kind", "path")) or argv[1] not in KINDS:
        print(f"usage: make_secret.py {{{'|'.join(KINDS)}}} PATH", file=sys.stderr)
        return 2
    kind, path = argv[1], Path(argv[2])
    try:
        created = ensure_secret(path, kind)
    except OSError as exc:
        print(f"guichet: cannot create the {kind} file {path}: {exc}", file=sys.stderr)
        return 1
    if created:
        print(f"guichet: generated a new {kind} in {path}. {WARNINGS[kind]}".rstrip(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
