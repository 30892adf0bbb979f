"""The third-party judges (npm packages), installed once per checkout under
.data/judges/ (npm's own cache in ~/.npm makes a clean clone pay once)."""

import fcntl
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JUDGES = ROOT / ".data" / "judges"
PACKAGES = {"vnu-jar": "26.9.27", "lighthouse": "12.2.3"}


def node_package(name: str) -> Path:
    """The folder of an npm package, installed at its pinned version if missing."""
    folder = JUDGES / "node_modules" / name
    JUDGES.mkdir(parents=True, exist_ok=True)
    with open(JUDGES / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "package.json").exists():
            wanted = [f"{package}@{version}" for package, version in PACKAGES.items()]
            subprocess.run(
                [
                    "npm",
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--ignore-scripts",
                    "--prefix",
                    str(JUDGES),
                    *wanted,
                ],
                check=True,
                capture_output=True,
                timeout=600,
            )
    return folder
