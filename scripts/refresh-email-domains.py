#!/usr/bin/env python3
"""Refresh the org-auth "work email only" domain lists.

Rewrites, from maintained public sources:

  services/org-auth/data/free_email_domains.txt        free-mail providers
  services/org-auth/data/disposable_email_domains.txt  throwaway / disposable
                                                        domains (+ RFC 2606)

and the generated block in services/org-auth/data/README.md.

Sources (fetched with the ordinary package clients, so any registry mirror,
proxy or CA configured for pip / npm on the machine is honoured):

  * PyPI  ``disposable-email-domains`` (MIT wrapper; the list itself is the
    CC0 blocklist of the disposable-email-domains/disposable-email-domains
    project) -> ``blocklist`` set in ``disposable_email_domains/__init__.py``.
  * npm   ``free-email-domains`` (MIT, Kiko Beats; HubSpot's free-domain list
    plus curated additions, merged with two disposable lists)
    -> ``domains.json``.

The free-mail list is ``free-email-domains`` minus everything in the
disposable list, minus the documented false positives and protected
test/placeholder domains below, plus a tiny documented supplement.  The
disposable list is the PyPI blocklist plus example.com/.net/.org (RFC 2606),
minus the protected domains.

Output is deterministic: for the same package versions the two .txt files are
byte-identical (lower-case ASCII, IDNs as punycode, sorted by code point --
the same order as ``LC_ALL=C sort`` -- unique, newline-terminated).

Runtime needs: Python 3.8+ standard library, plus ``pip`` (run as
``python -m pip``) and ``npm`` on PATH to download the two packages.

Usage:
  scripts/refresh-email-domains.py                 # latest versions, rewrite
  scripts/refresh-email-domains.py \\
      --disposable-version 0.0.293 --free-version 1.12.6   # pinned, reproducible
  scripts/refresh-email-domains.py --check ...     # exit 1 if files would change
"""

from __future__ import annotations

import argparse
import ast
import datetime as _dt
import hashlib
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "services" / "org-auth" / "data"
FREE_FILE = DATA_DIR / "free_email_domains.txt"
DISPOSABLE_FILE = DATA_DIR / "disposable_email_domains.txt"
README_FILE = DATA_DIR / "README.md"

DISPOSABLE_PYPI_PACKAGE = "disposable-email-domains"
DISPOSABLE_PYPI_MODULE = "disposable_email_domains/__init__.py"
FREE_NPM_PACKAGE = "free-email-domains"
FREE_NPM_FILE = "package/domains.json"

# RFC 2606 section 3 reserves these second-level names for documentation.
# Nobody can own a mailbox there, so a sign-up using one is rejected; they go
# into the disposable list (not the free-mail list: they are not providers).
RESERVED_DISPOSABLE = {
    "example.com": "RFC 2606 reserved example domain",
    "example.net": "RFC 2606 reserved example domain",
    "example.org": "RFC 2606 reserved example domain",
}

# Domains that must never appear in either list: the org-auth spec and tests
# use company-style example domains (john@acme.com) as *valid* work emails.
# If an upstream list ever adds one, it is dropped here and reported.
PROTECTED = {
    "acme.com": "spec example of a valid work email (john@acme.com)",
    "acme.org": "test company domain",
    "acme.net": "test company domain",
    "acme.io": "test company domain",
    "acme.co": "test company domain",
    "acmecorp.com": "test company domain",
    "acme-corp.com": "test company domain",
    "acmeinc.com": "test company domain",
    "contoso.com": "test company domain (Microsoft docs)",
    "fabrikam.com": "test company domain (Microsoft docs)",
    "northwindtraders.com": "test company domain (Microsoft docs)",
    "adventure-works.com": "test company domain (Microsoft docs)",
    "initech.com": "test company domain",
    "globex.com": "test company domain",
    "hooli.com": "test company domain",
    "company.com": "placeholder company domain",
    "mycompany.com": "placeholder company domain",
    "yourcompany.com": "placeholder company domain",
    "mydomain.com": "placeholder domain (and a registrar's own domain), not a mail provider",
    "yourdomain.com": "placeholder domain used in docs/tests",
    "test.com": "placeholder domain used in tests, not a mail provider",
    "test.de": "placeholder domain used in tests, not a mail provider",
}

# Entries of the free-mail source that are an organisation's own (work)
# domain rather than a public mailbox provider. Removed from the free list.
FREE_FALSE_POSITIVES = {
    "starbucks.com": "Starbucks Corporation's corporate domain",
    "facebook.com": "Meta's corporate/service domain; consumer @facebook.com mail ended in 2014",
    "oath.com": "Oath Inc. (Verizon Media) corporate domain",
    "cox.com": "Cox Communications corporate domain (consumer mail is cox.net, kept)",
    "dnsmadeeasy.com": "DNS Made Easy, a DNS hosting company",
    "name.com": "Name.com, a domain registrar company",
    "medscape.com": "Medscape (WebMD) corporate domain; its old free clinician mail is discontinued",
    "joelonsoftware.com": "a personal blog domain, not a mailbox provider",
    "nus.edu.sg": "National University of Singapore",
    "unican.es": "Universidad de Cantabria",
    "scottsboro.org": "City of Scottsboro, Alabama (municipal domain)",
    "autoescuelanerja.com": "a driving school (small business)",
    "baudoinconsulting.com": "a consulting firm (small business)",
    "ballyfinance.com": "a finance business",
    "brittonsign.com": "a sign company (small business)",
    "casablancaresort.com": "a resort (small business)",
    "icmsconsultants.com": "a consultancy (small business)",
}

# Well-known consumer mailbox domains missing from the free-mail source.
FREE_SUPPLEMENT = {
    "hey.com": "HEY personal mailboxes (37signals)",
    "mailbox.org": "mailbox.org personal mailboxes",
    "tuta.com": "Tuta (Tutanota) consumer domain",
    "tutanota.com": "Tuta (Tutanota) consumer domain",
    "tutamail.com": "Tuta (Tutanota) consumer domain",
    "keemail.me": "Tuta (Tutanota) consumer domain",
}

# The refresh fails (and writes nothing) unless all of these end up in the
# free-mail list.
REQUIRED_FREE = """
gmail.com googlemail.com
yahoo.com yahoo.co.uk yahoo.de yahoo.fr yahoo.co.jp yahoo.com.br yahoo.in
hotmail.com outlook.com live.com msn.com aol.com
icloud.com me.com mac.com
proton.me protonmail.com
gmx.de gmx.net gmx.com gmx.at gmx.ch web.de
mail.ru yandex.ru yandex.com
qq.com 163.com zoho.com
""".split()

# Guard against writing a truncated list if an upstream package is broken.
MIN_FREE = 2000
MIN_DISPOSABLE = 5000

README_BEGIN = "<!-- BEGIN GENERATED BY scripts/refresh-email-domains.py -->"
README_END = "<!-- END GENERATED BY scripts/refresh-email-domains.py -->"

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class RefreshError(Exception):
    pass


def log(msg: str) -> None:
    print(msg, file=sys.stderr)


def normalise(raw: str) -> str | None:
    """Return the canonical form of a domain, or None if it is not one."""
    d = raw.strip().lower().rstrip(".")
    if not d:
        return None
    if not d.isascii():
        try:
            d = d.encode("idna").decode("ascii").lower()
        except UnicodeError:
            return None
    labels = d.split(".")
    if len(d) > 253 or len(labels) < 2:
        return None
    if not all(_LABEL.match(label) for label in labels):
        return None
    if labels[-1].isdigit():  # an IP address, not a domain
        return None
    return d


def normalise_all(entries, source: str) -> set[str]:
    out: set[str] = set()
    rejected = []
    for raw in entries:
        if not isinstance(raw, str):
            rejected.append(repr(raw))
            continue
        d = normalise(raw)
        if d is None:
            rejected.append(raw)
        else:
            out.add(d)
    if rejected:
        shown = ", ".join(repr(r) for r in sorted(rejected)[:10])
        log(f"warning: {source}: skipped {len(rejected)} malformed entr"
            f"{'y' if len(rejected) == 1 else 'ies'}: {shown}")
    return out


def run(cmd: list[str], cwd: Path) -> str:
    log("+ " + " ".join(cmd))
    try:
        proc = subprocess.run(cmd, cwd=str(cwd), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=600)
    except FileNotFoundError as exc:
        raise RefreshError(f"{cmd[0]} not found on PATH") from exc
    if proc.returncode != 0:
        raise RefreshError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                           f"{proc.stderr.strip()}")
    return proc.stdout


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_disposable(workdir: Path, version: str | None) -> tuple[set[str], dict]:
    """Download the PyPI wheel and read its ``blocklist`` set literal."""
    dest = workdir / "pypi"
    dest.mkdir()
    spec = DISPOSABLE_PYPI_PACKAGE + (f"=={version}" if version else "")
    run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
         "--only-binary=:all:", "--dest", str(dest), spec], cwd=workdir)
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise RefreshError(f"expected one wheel for {spec}, got {wheels}")
    wheel = wheels[0]
    got_version = wheel.name.split("-")[1]
    license_expr = "unknown"
    with zipfile.ZipFile(wheel) as zf:
        source = zf.read(DISPOSABLE_PYPI_MODULE).decode("utf-8")
        for name in zf.namelist():
            if name.endswith(".dist-info/METADATA"):
                meta = zf.read(name).decode("utf-8", "replace")
                m = (re.search(r"^License-Expression: *(.+)$", meta, re.M)
                     or re.search(r"^License: *(.+)$", meta, re.M))
                if m:
                    license_expr = m.group(1).strip()
    # Parse, never import/exec, the downloaded module.
    blocklist = None
    for node in ast.parse(source).body:
        targets = []
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        if any(isinstance(t, ast.Name) and t.id == "blocklist" for t in targets):
            blocklist = ast.literal_eval(value)
            break
    if not isinstance(blocklist, (set, frozenset, list, tuple)):
        raise RefreshError(f"no literal `blocklist` in {DISPOSABLE_PYPI_MODULE}")
    info = {
        "package": DISPOSABLE_PYPI_PACKAGE,
        "ecosystem": "PyPI",
        "version": got_version,
        "license": license_expr,
        "artifact": wheel.name,
        "sha256": sha256_of(wheel),
        "raw_count": len(blocklist),
    }
    return normalise_all(blocklist, f"{DISPOSABLE_PYPI_PACKAGE} {got_version}"), info


def fetch_free(workdir: Path, version: str | None) -> tuple[set[str], dict]:
    """Download the npm tarball and read its ``domains.json`` array."""
    dest = workdir / "npm"
    dest.mkdir()
    spec = FREE_NPM_PACKAGE + (f"@{version}" if version else "")
    out = run(["npm", "pack", "--json", "--ignore-scripts", spec], cwd=dest)
    meta = json.loads(out)
    if isinstance(meta, list):
        meta = meta[0]
    tgz = dest / meta["filename"]
    with tarfile.open(tgz, "r:gz") as tf:
        pkg = json.load(tf.extractfile("package/package.json"))
        domains = json.load(tf.extractfile(FREE_NPM_FILE))
    if not isinstance(domains, list):
        raise RefreshError(f"{FREE_NPM_FILE} is not a JSON array")
    info = {
        "package": FREE_NPM_PACKAGE,
        "ecosystem": "npm",
        "version": pkg.get("version", meta.get("version")),
        "license": pkg.get("license", "unknown"),
        "artifact": tgz.name,
        "sha256": sha256_of(tgz),
        "integrity": meta.get("integrity", ""),
        "raw_count": len(domains),
    }
    return normalise_all(domains, f"{FREE_NPM_PACKAGE} {info['version']}"), info


def build(free_src: set[str], disposable_src: set[str]):
    protected = set(PROTECTED)
    disposable = (disposable_src | set(RESERVED_DISPOSABLE)) - protected
    free = ((free_src - set(FREE_FALSE_POSITIVES)) | set(FREE_SUPPLEMENT))
    free = free - protected - disposable
    report = {
        "protected_removed_from_free": sorted(protected & free_src),
        "protected_removed_from_disposable": sorted(protected & disposable_src),
        "false_positives_present": sorted(set(FREE_FALSE_POSITIVES) & free_src),
        "supplement_added": sorted(set(FREE_SUPPLEMENT) - free_src - disposable),
        "free_src_in_disposable": len(free_src & disposable),
    }
    return free, disposable, report


def validate(free: set[str], disposable: set[str]) -> None:
    problems = []
    missing = [d for d in REQUIRED_FREE if d not in free]
    if missing:
        problems.append(f"required free-mail domains missing: {missing}")
    for d in PROTECTED:
        if d in free or d in disposable:
            problems.append(f"protected domain {d} is listed")
    if free & disposable:
        problems.append(f"lists overlap: {sorted(free & disposable)[:10]}")
    if len(free) < MIN_FREE:
        problems.append(f"free list suspiciously small ({len(free)} < {MIN_FREE})")
    if len(disposable) < MIN_DISPOSABLE:
        problems.append(f"disposable list suspiciously small "
                        f"({len(disposable)} < {MIN_DISPOSABLE})")
    for d in free | disposable:
        if normalise(d) != d:
            problems.append(f"non-canonical entry {d!r}")
            break
    if problems:
        raise RefreshError("refusing to write:\n  " + "\n  ".join(problems))


def render(domains: set[str]) -> str:
    return "".join(d + "\n" for d in sorted(domains))


def readme_block(free_info, disp_info, free, disposable, report, fetched: str) -> str:
    def row(label, info, count, upstream, upstream_licence):
        integrity = info.get("integrity")
        digest = f"sha256 `{info['sha256']}`"
        if integrity:
            digest += f"; npm integrity `{integrity}`"
        return (f"| `{label}` | {info['ecosystem']} `{info['package']}` "
                f"**{info['version']}** (`{info['artifact']}`, {digest}) | "
                f"{info['license']} | {upstream} ({upstream_licence}) | "
                f"{info['raw_count']} | {count} |")

    lines = [
        README_BEGIN,
        "",
        f"Last refreshed: {fetched} (UTC date of the run).",
        "",
        "| file | package fetched | package licence | list maintained by (licence) "
        "| raw entries | entries written |",
        "| --- | --- | --- | --- | ---: | ---: |",
        row("disposable_email_domains.txt", disp_info, len(disposable),
            "disposable-email-domains/disposable-email-domains on GitHub",
            "CC0 1.0"),
        row("free_email_domains.txt", free_info, len(free),
            "Kikobeats/free-email-domains on GitHub (HubSpot's free-domain "
            "list + curated additions)", "MIT"),
        "",
        "Applied by the script on this run:",
        "",
        f"- disposable list: {disp_info['raw_count']} upstream entries + "
        f"{len(RESERVED_DISPOSABLE)} RFC 2606 names "
        f"({', '.join(sorted(RESERVED_DISPOSABLE))})"
        + (f" − protected {', '.join(report['protected_removed_from_disposable'])}"
           if report['protected_removed_from_disposable'] else "")
        + f" = {len(disposable)}.",
        f"- free list: {free_info['raw_count']} upstream entries − "
        f"{report['free_src_in_disposable']} also in the disposable list − "
        f"{len(report['false_positives_present'])} false positives − "
        f"{len(report['protected_removed_from_free'])} protected + "
        f"{len(report['supplement_added'])} supplement = {len(free)}.",
        "- false positives removed from the free list: "
        + (", ".join(f"`{d}`" for d in report["false_positives_present"]) or "none"),
        "- protected domains removed from the free list: "
        + (", ".join(f"`{d}`" for d in report["protected_removed_from_free"]) or "none"),
        "- protected domains removed from the disposable list: "
        + (", ".join(f"`{d}`" for d in report["protected_removed_from_disposable"]) or "none"),
        "- supplement added to the free list: "
        + (", ".join(f"`{d}`" for d in report["supplement_added"]) or "none"),
        "",
        "Reproduce exactly: `python3 scripts/refresh-email-domains.py "
        f"--disposable-version {disp_info['version']} "
        f"--free-version {free_info['version']}`",
        "",
        README_END,
    ]
    return "\n".join(lines)


def _undated(block: str) -> str:
    return re.sub(r"^Last refreshed: .*$", "", block, flags=re.M)


def update_readme(block: str) -> bool:
    """Replace the generated block; keep the old one (and its date) if only
    the date would change."""
    if not README_FILE.exists():
        log(f"warning: {README_FILE} missing; generated block:\n{block}")
        return False
    text = README_FILE.read_text(encoding="utf-8")
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        log(f"warning: markers not found in {README_FILE}; generated block:\n{block}")
        return False
    old = text[start:end + len(README_END)]
    if _undated(old) == _undated(block):
        return False
    README_FILE.write_text(text[:start] + block + text[end + len(README_END):],
                           encoding="utf-8")
    log(f"updated {README_FILE.relative_to(REPO_ROOT)}")
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--disposable-version", metavar="V",
                    help=f"PyPI {DISPOSABLE_PYPI_PACKAGE} version (default: latest)")
    ap.add_argument("--free-version", metavar="V",
                    help=f"npm {FREE_NPM_PACKAGE} version (default: latest)")
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if the .txt files would change")
    args = ap.parse_args(argv)

    try:
        with tempfile.TemporaryDirectory(prefix="email-domains-") as tmp:
            work = Path(tmp)
            disposable_src, disp_info = fetch_disposable(work, args.disposable_version)
            free_src, free_info = fetch_free(work, args.free_version)
        free, disposable, report = build(free_src, disposable_src)
        validate(free, disposable)
    except RefreshError as exc:
        log(f"error: {exc}")
        return 2

    outputs = {FREE_FILE: render(free), DISPOSABLE_FILE: render(disposable)}
    changed = [p for p, body in outputs.items()
               if not p.exists() or p.read_text(encoding="ascii") != body]

    summary = (f"{DISPOSABLE_PYPI_PACKAGE} {disp_info['version']} ({disp_info['license']}): "
               f"{len(disposable)} disposable; {FREE_NPM_PACKAGE} {free_info['version']} "
               f"({free_info['license']}): {len(free)} free")
    if args.check:
        for p in changed:
            log(f"out of date: {p.relative_to(REPO_ROOT)}")
        log(summary)
        return 1 if changed else 0

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for p, body in outputs.items():
        if p in changed:
            p.write_bytes(body.encode("ascii"))  # LF endings on every platform
    fetched = _dt.datetime.now(_dt.timezone.utc).date().isoformat()
    update_readme(readme_block(free_info, disp_info, free, disposable, report, fetched))
    for p in changed:
        log(f"wrote {p.relative_to(REPO_ROOT)}")
    log(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
