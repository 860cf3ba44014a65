"""Bring the template's later changes into a project made from it:
`make template-update TEMPLATE=<git url or path> [REF=<ref>]`.

A three-way merge, as Copier's `update` does it: the template at the commit the project came from
(`.template.json`, written by `make rename`) and the template at REF are each rendered under the
project's name (the template's own scripts/rename.py, then `ruff format`, as `make rename` does). In a
temporary git repository the first render is the base, the second a branch, and the project's files
another; git merges the two branches, so the project's own changes are kept, and files the template
renamed, added or deleted follow. The result is written back into the project.

A clean merge moves the recorded commit to REF. A conflict is left in the files as git's standard
markers, the files are listed, the exit code is 1 and the record stays where it was: resolve the
markers, then set `commit` in the record to the commit the message names, and commit. The project
must have no uncommitted changes, so `git diff` shows exactly what the update did.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD = ".template.json"
SKIPPED_DIRS = {".git", ".venv", ".tools", "__pycache__", ".terraform", "node_modules"}
GIT = shutil.which("git") or "git"
TAR = shutil.which("tar") or "tar"


def git(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "GIT_AUTHOR_NAME": "template-update",
        "GIT_AUTHOR_EMAIL": "template-update@localhost",
        "GIT_COMMITTER_NAME": "template-update",
        "GIT_COMMITTER_EMAIL": "template-update@localhost",
    }
    result = subprocess.run(  # noqa: S603  # git, with arguments from this script
        [GIT, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        sys.exit(f"template-update: git {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result


def files(root: Path) -> list[str]:
    """The project's files, relative: git's list when it is a repository (tracked, and untracked but
    not ignored), otherwise every file outside tool and cache directories. No symlink, no record."""
    if (root / ".git").exists():
        listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=root).stdout
        paths = {p for p in listed.split("\0") if p}
    else:
        paths = {
            str(p.relative_to(root))
            for p in root.rglob("*")
            if not SKIPPED_DIRS.intersection(p.relative_to(root).parts)
        }
    return sorted(p for p in paths if p != RECORD and (root / p).is_file() and not (root / p).is_symlink())


def render(clone: Path, commit: str, template_name: str, name: str, into: Path) -> None:
    """The template at `commit`, renamed to `name` by that commit's own rename, formatted as
    `make rename` formats."""
    into.mkdir(parents=True)
    archive = subprocess.run(  # noqa: S603  # git, with arguments from this script
        [GIT, "archive", "--format=tar", commit], cwd=clone, capture_output=True, check=True
    ).stdout
    subprocess.run([TAR, "-x", "-C", str(into)], input=archive, check=True)  # noqa: S603
    if name != template_name:
        renamed = subprocess.run(  # noqa: S603  # the template's own rename script
            [sys.executable, "scripts/rename.py", name], cwd=into, capture_output=True, text=True, check=False
        )
        if renamed.returncode != 0:
            sys.exit(f"template-update: renaming the template at {commit[:12]} failed:\n{renamed.stderr}")
        subprocess.run(  # the project's ruff, as `make rename` runs it
            [sys.executable, "-m", "ruff", "format", "--quiet", "."], cwd=into, check=False
        )
    (into / RECORD).unlink(missing_ok=True)


def commit_tree(repo: Path, source: Path, message: str) -> None:
    """Make the repository's work tree exactly `source`'s files, and commit it."""
    for relative in files(repo):
        (repo / relative).unlink()
    for relative in files(source):
        target = repo / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / relative, target)
    git("add", "-A", "--force", cwd=repo)  # every listed file, whatever the project's .gitignore says
    git("commit", "-q", "--allow-empty", "--no-verify", "-m", message, cwd=repo)


def merge(base: Path, ours: Path, theirs: Path, work: Path) -> tuple[Path, list[str]]:
    """git's three-way merge of `ours` and `theirs` over `base`; returns the merged tree and the
    files left in conflict."""
    repo = work / "merge"
    repo.mkdir()
    git("init", "-q", "-b", "base", cwd=repo)
    git("config", "core.autocrlf", "false", cwd=repo)
    commit_tree(repo, base, "the template at the recorded commit, under the project's name")
    git("checkout", "-q", "-b", "template", cwd=repo)
    commit_tree(repo, theirs, "the template at REF, under the project's name")
    git("checkout", "-q", "-b", "project", "base", cwd=repo)
    commit_tree(repo, ours, "the project")
    git("merge", "-q", "--no-edit", "--no-ff", "template", cwd=repo, check=False)
    conflicts = git("diff", "-z", "--name-only", "--diff-filter=U", cwd=repo).stdout.split("\0")
    return repo, sorted({path for path in conflicts if path})


def write_back(merged: Path, project: Path) -> list[str]:
    """The project's files become the merged tree's; returns what changed."""
    before, after = set(files(project)), set(files(merged))
    changed = []
    for relative in sorted(before - after):
        (project / relative).unlink()
        changed.append(f"deleted  {relative}")
    for relative in sorted(after):
        source, target = merged / relative, project / relative
        if relative in before and target.read_bytes() == source.read_bytes():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        changed.append(f"{'updated' if relative in before else 'added  '}  {relative}")
    return changed


def resolve(clone: Path, ref: str) -> str:
    for candidate in (f"origin/{ref}", ref):
        found = git("rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}", cwd=clone, check=False)
        if found.returncode == 0:
            return found.stdout.strip()
    sys.exit(f"template-update: the template has no {ref!r}")


def refusal(record_path: Path) -> str | None:
    """Why the update cannot start, if it cannot."""
    if not record_path.exists():
        return f"no {RECORD}: `make rename` records where the project came from"
    if not json.loads(record_path.read_text()).get("commit"):
        return f"{RECORD} names no commit: set the template commit the project came from"
    if (ROOT / ".git").exists() and git("status", "--porcelain", cwd=ROOT).stdout.strip():
        return "commit or stash your changes first, so that `git diff` shows the update's alone"
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[0]:
        print("usage: make template-update TEMPLATE=<git url or path> [REF=<ref>]", file=sys.stderr)
        return 2
    template, ref = argv
    record_path = ROOT / RECORD
    refused = refusal(record_path)
    if refused:
        print(f"template-update: {refused}", file=sys.stderr)
        return 2
    record = json.loads(record_path.read_text())
    base_commit = record["commit"]

    with tempfile.TemporaryDirectory(prefix="template-update-") as scratch:
        work = Path(scratch)
        clone = work / "template"
        git("clone", "-q", "--no-checkout", template, str(clone), cwd=work)
        git("cat-file", "-e", f"{base_commit}^{{commit}}", cwd=clone)
        new_commit = resolve(clone, ref)
        if new_commit == base_commit:
            print(f"template-update: already at {ref} ({new_commit[:12]})")
            return 0
        render(clone, base_commit, record["template"], record["name"], work / "base")
        render(clone, new_commit, record["template"], record["name"], work / "new")
        merged, conflicts = merge(work / "base", ROOT, work / "new", work)
        changed = write_back(merged, ROOT)

    print(f"template-update: {base_commit[:12]} -> {new_commit[:12]} ({ref}) under the name {record['name']}")
    for line in changed:
        print(f"  {line}")
    if conflicts:
        print(
            f"template-update: {len(conflicts)} file(s) in conflict, marked <<<<<<< ======= >>>>>>>. "
            f'Resolve them, then set "commit" in {RECORD} to {new_commit} (it stays at '
            f"{base_commit[:12]} until then) and commit:",
            file=sys.stderr,
        )
        for path in conflicts:
            print(f"  {path}", file=sys.stderr)
        return 1
    record["commit"] = new_commit
    record_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"template-update: clean; {RECORD} names {new_commit[:12]}. Review `git diff`, check, commit.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
