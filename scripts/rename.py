"""Give the service a new name everywhere a name is a contract: `make rename NAME=<new-name>`.

The current name is the compose project's (`name:` in docker-compose.yml), so a renamed project can be
renamed again. Every tracked text file is rewritten, with both spellings the name has: `<name>` (compose
project and image, ECR repository, ECS cluster, service and task family, IAM roles, secrets, the OTel
service name, the Prometheus job and alert labels, dashboards, runbooks, docs) and `<name>` with
underscores (Terraform resource labels, the database user). Files whose path holds the name (the
Grafana dashboards) are moved. The Python package stays `app`: nothing outside the repository imports it.

A name must be a DNS label that fits every AWS name made from it: 3 to 18 lowercase letters, digits and
hyphens, starting with a letter and ending with a letter or digit. The longest is a target group's,
`<name>-staging-green` (terraform/modules/service/alb.tf), and AWS caps those at 32 characters. It must
not already occur in the project, or a later rename could not tell it from the words around it.

The rename records where the project came from in `.template.json` (the template's name and commit,
and the project's name), the starting point of `make template-update` (scripts/template_update.py).
A later rename keeps the template's name and commit and records the new name.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VALID_NAME = re.compile(r"[a-z][a-z0-9-]{1,16}[a-z0-9]")
RECORD = ".template.json"
# Never rewritten: the lock file names packages, not this service; the record names the template.
UNTOUCHED = {"uv.lock", RECORD}
SKIPPED_DIRS = {".git", ".venv", ".tools", "__pycache__", ".terraform", "node_modules"}


def current_name() -> str:
    match = re.search(r"^name:\s*([a-z][a-z0-9-]*)\s*$", (ROOT / "docker-compose.yml").read_text(), re.M)
    if not match:
        sys.exit("rename: docker-compose.yml has no top-level `name:`, the project's current name")
    return match[1]


def project_files() -> list[Path]:
    """The tracked files in a git work tree; otherwise every file but tool and cache directories."""
    git = shutil.which("git")
    if git and (ROOT / ".git").exists():
        listed = subprocess.run(  # noqa: S603  # a fixed git command, no input in it
            [git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
        paths = [ROOT / p for p in listed.split("\0") if p]
    else:
        paths = [
            p
            for p in ROOT.rglob("*")
            if not SKIPPED_DIRS.intersection(p.relative_to(ROOT).parts[:-1]) and p.name not in SKIPPED_DIRS
        ]
    return sorted(p for p in paths if p.is_file() and not p.is_symlink() and p.name not in UNTOUCHED)


def template_commit() -> str | None:
    """The commit the project is at, when it is a git clone with one."""
    git = shutil.which("git")
    if not git or not (ROOT / ".git").exists():
        return None
    head = subprocess.run(  # noqa: S603  # a fixed git command, no input in it
        [git, "rev-parse", "--verify", "--quiet", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return head.stdout.strip() or None


def record(old: str, new: str) -> None:
    """Write .template.json: the template's name and commit (the first rename's), the project's name."""
    path = ROOT / RECORD
    data = json.loads(path.read_text()) if path.exists() else {"template": old, "commit": template_commit()}
    data["name"] = new
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None  # a binary file holds no name


def word(name: str) -> re.Pattern[str]:
    """The name as a whole word: not part of a longer name or identifier."""
    return re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w])")


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0]:
        print("usage: make rename NAME=<new-name>", file=sys.stderr)
        return 2
    new = argv[0]
    if not VALID_NAME.fullmatch(new):
        print(
            f"rename: {new!r} is not a valid name: use 3 to 18 lowercase letters, digits and hyphens, "
            "starting with a letter and ending with a letter or digit (a DNS label short enough for "
            "every AWS name made from it)",
            file=sys.stderr,
        )
        return 2
    old = current_name()
    if new == old:
        print(f"rename: the service is already called {old}", file=sys.stderr)
        return 2
    spellings = [(old, new), (old.replace("-", "_"), new.replace("-", "_"))]
    files = project_files()
    texts = {path: read_text(path) for path in files}
    taken = [
        str(path.relative_to(ROOT))
        for path, text in texts.items()
        if text is not None and any(word(n).search(text) for _, n in spellings)
    ]
    if taken:
        print(
            f"rename: {new!r} already occurs in {', '.join(taken[:5])}: choose another name", file=sys.stderr
        )
        return 2

    changed = 0
    for path, text in texts.items():
        if text is None:
            continue
        renamed = text
        for before, after in spellings:
            renamed = renamed.replace(before, after)
        if renamed != text:
            path.write_text(renamed, encoding="utf-8")
            changed += 1
    moved = []
    for path in files:
        relative = str(path.relative_to(ROOT))
        if old in path.name:
            target = path.with_name(path.name.replace(old, new))
            path.rename(target)
            moved.append(f"{relative} -> {target.relative_to(ROOT)}")
    record(old, new)
    print(f"renamed {old} to {new} in {changed} files")
    for line in moved:
        print(f"  moved {line}")
    print("Next: `make lint check`, then create the new names outside the repository (docs/architecture.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
