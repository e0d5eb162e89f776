#!/usr/bin/env python3
"""The committed spec, its changelog and its semantic version move together.

- Every commit after BASELINE that changes openapi/openapi.json changes
  CHANGELOG.md too (an entry under `[Unreleased]`, or a release section).
- A commit that changes the spec's `info.version` is a release: CHANGELOG.md
  has a `## [X.Y.Z]` section for it, and the version is bumped as the spec
  diff tool (Optic, `optic diff --check`, from the npm registry) finds the
  change since the previous release: a breaking change needs a new major
  version, any other change a new minor or patch version.
- The working tree: a spec that differs from the last release has entries
  under `[Unreleased]`; the check prints the version the next release needs.

Usage: spec_version.py OPTIC        (in the repository)
       spec_version.py OPTIC --self-test
"""
import json
import os
import re
import subprocess
import sys
import tempfile

SPEC = "openapi/openapi.json"
CHANGELOG = "CHANGELOG.md"
# The check came after this commit; commits after it are checked one by one.
BASELINE = "ca609a6"
# The contract published as 1.0.0 (before the changelog was kept), where no
# commit changed the version.
FIRST_RELEASE = ("1.0.0", "c8952cf^")


def git(*args, cwd=None):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def version_of(text):
    return json.loads(text)["info"]["version"]


def semver(v):
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", v)
    if not m:
        raise SystemExit(f"not a semantic version: {v}")
    return tuple(int(x) for x in m.groups())


def breaking_changes(optic, old_text, new_text):
    """The breaking changes Optic finds from old to new (a list of lines)."""
    with tempfile.TemporaryDirectory() as d:
        old, new = os.path.join(d, "old.json"), os.path.join(d, "new.json")
        open(old, "w").write(old_text)
        open(new, "w").write(new_text)
        run = subprocess.run([optic, "diff", old, new, "--check"], capture_output=True, text=True)
    out = run.stdout + run.stderr
    if run.returncode not in (0, 1) or not any(
        marker in out for marker in ("Checks:", "specification details", "No changes")
    ):
        raise SystemExit(f"the spec diff tool failed ({run.returncode}):\n{out[-3000:]}")
    return [line.strip() for line in out.splitlines() if "breaking change" in line]


def needed(last, breaking):
    major, minor, _ = semver(last)
    return f"{major + 1}.0.0" if breaking else f"{major}.{minor + 1}.0"


def bump_ok(old, new, breaking):
    o, n = semver(old), semver(new)
    if breaking:
        return n[0] > o[0]
    return n > o


def unreleased_entries(changelog):
    m = re.search(r"^## \[Unreleased\]\s*$(.*?)(?=^## \[|\Z)", changelog, re.M | re.S)
    return bool(m and re.search(r"^- ", m.group(1), re.M))


def check(optic, cwd=None, baseline=BASELINE, first=FIRST_RELEASE):
    problems = []
    release_version, release_ref = first
    release_text = git("show", f"{release_ref}:{SPEC}", cwd=cwd)
    commits = git("rev-list", "--reverse", f"{baseline}..HEAD", "--", SPEC, cwd=cwd).split()
    for c in commits:
        touched = git("show", "--name-only", "--format=", c, cwd=cwd).split()
        short = c[:7]
        if CHANGELOG not in touched:
            problems.append(f"{short} changes the spec without a changelog entry")
        text = git("show", f"{c}:{SPEC}", cwd=cwd)
        v = version_of(text)
        if v != release_version:
            breaking = breaking_changes(optic, release_text, text)
            changelog = git("show", f"{c}:{CHANGELOG}", cwd=cwd)
            if not re.search(rf"^## \[{re.escape(v)}\]", changelog, re.M):
                problems.append(f"{short} releases {v} without a `## [{v}]` section in {CHANGELOG}")
            if not bump_ok(release_version, v, breaking):
                problems.append(
                    f"{short} releases {v} after {release_version}, but the change needs {needed(release_version, breaking)}"
                    + (f" ({len(breaking)} breaking changes, such as: {breaking[0]})" if breaking else "")
                )
            release_version, release_text = v, text
    # the working tree (on CI: HEAD)
    root = cwd or "."
    text = open(os.path.join(root, SPEC)).read()
    changelog = open(os.path.join(root, CHANGELOG)).read()
    if version_of(text) == release_version and json.loads(text) != json.loads(release_text):
        breaking = breaking_changes(optic, release_text, text)
        if not unreleased_entries(changelog):
            problems.append(f"the spec differs from {release_version} and [Unreleased] in {CHANGELOG} is empty")
        print(
            f"unreleased changes since {release_version}: {len(breaking)} breaking by the spec diff tool; "
            f"the next release is {needed(release_version, breaking)}"
        )
        for line in breaking[:20]:
            print(f"  {line}")
    else:
        print(f"the spec is release {version_of(text)}")
    return problems


def self_test(optic):
    """The check fails where it must: on a temporary repository."""
    def spec(version, paths):
        return json.dumps({"openapi": "3.1.0", "info": {"title": "t", "version": version}, "paths": paths}, indent=2)

    def op(params):
        return {"/a": {"get": {"operationId": "getA", "parameters": params, "responses": {"200": {
            "description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}}}}}

    q = {"name": "q", "in": "query", "required": False, "schema": {"type": "string"}}
    ops = op([q])
    # a value refused that was allowed: breaking
    fewer = op([dict(q, schema={"type": "string", "enum": ["x", "y"]})])
    # a parameter that may be left out: not breaking
    more = op([q, {"name": "r", "in": "query", "required": False, "schema": {"type": "string"}}])
    results = []
    for name, steps, expect in [
        ("a breaking change released as a minor version", [(spec("1.1.0", fewer), "## [1.1.0]\n- q narrowed\n", True)], False),
        ("a breaking change released as a major version", [(spec("2.0.0", fewer), "## [2.0.0]\n- q narrowed\n", True)], True),
        ("an addition released as a minor version", [(spec("1.1.0", more), "## [1.1.0]\n- added r\n", True)], True),
        ("a release without its changelog section", [(spec("1.1.0", more), "- added r\n", True)], False),
        ("a spec change without a changelog entry", [(spec("1.0.0", more), None, True)], False),
        ("an unreleased addition with its entry", [(spec("1.0.0", more), "## [Unreleased]\n- added c\n", True)], True),
    ]:
        with tempfile.TemporaryDirectory() as d:
            git("init", "-q", cwd=d)
            git("config", "user.email", "ci@example.org", cwd=d)
            git("config", "user.name", "ci", cwd=d)
            os.makedirs(os.path.join(d, "openapi"))
            open(os.path.join(d, SPEC), "w").write(spec("1.0.0", ops))
            open(os.path.join(d, CHANGELOG), "w").write("## [1.0.0]\n- first\n")
            git("add", "-A", cwd=d)
            git("commit", "-qm", "1.0.0", cwd=d)
            base = git("rev-parse", "HEAD", cwd=d).strip()
            for text, changelog, _ in steps:
                open(os.path.join(d, SPEC), "w").write(text)
                if changelog is not None:
                    open(os.path.join(d, CHANGELOG), "a").write(changelog)
                git("add", "-A", cwd=d)
                git("commit", "-qm", "change", cwd=d)
            problems = check(optic, cwd=d, baseline=base, first=("1.0.0", base))
            ok = not problems
            results.append((name, ok == expect, problems))
    failed = [r for r in results if not r[1]]
    for name, right, problems in results:
        print(f"self-test: {name}: {'as expected' if right else 'WRONG'} {problems}")
    return not failed


def main():
    optic = sys.argv[1]
    if "--self-test" in sys.argv[2:]:
        sys.exit(0 if self_test(optic) else 1)
    problems = check(optic)
    for p in problems:
        print(f"spec version: {p}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
