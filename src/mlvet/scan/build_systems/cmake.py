"""CMake build files: unverified downloads, unpinned fetched dependencies, commands run at build time."""

from __future__ import annotations

import re
from collections.abc import Iterator

from mlvet.findings import Severity
from mlvet.scan.build_systems import rules
from mlvet.scan.build_systems.cmake_syntax import Command, parse_commands
from mlvet.scan.build_systems.commands import grade_commands
from mlvet.scan.build_systems.issues import BuildIssue

_VARIABLE = re.compile(r"\$\{([A-Za-z0-9_.+-]+)\}")
_COMMIT = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")
_SHORT_COMMIT = re.compile(r"[0-9a-fA-F]{7,39}")
_VERSION_TAG = re.compile(r"[A-Za-z_-]*v?\d+(\.\d+)+([._-]?[A-Za-z0-9]+)*")
_RUNNABLE = re.compile(r"\.(cmake|sh|bash|py|ps1|bat|cmd|exe|pl|rb|js)$|^[^.]*$", re.IGNORECASE)
"""Downloaded file names that are code CMake or a shell would run (no extension: an executable)."""
_REMOTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_FETCHERS = frozenset({"fetchcontent_declare", "externalproject_add", "fetchcontent_populate"})
_FETCH_KEYWORDS = frozenset(
    [
        "URL",
        "URL_HASH",
        "GIT_REPOSITORY",
        "GIT_TAG",
        "GIT_SHALLOW",
        "GIT_PROGRESS",
        "SOURCE_DIR",
        "BINARY_DIR",
        "SVN_REPOSITORY",
        "SVN_REVISION",
        "HG_REPOSITORY",
        "HG_TAG",
        "DOWNLOAD_COMMAND",
        "DOWNLOAD_NAME",
        "DOWNLOAD_DIR",
        "DOWNLOAD_EXTRACT_TIMESTAMP",
        "DOWNLOAD_NO_EXTRACT",
        "PATCH_COMMAND",
        "UPDATE_COMMAND",
        "CONFIGURE_COMMAND",
        "BUILD_COMMAND",
        "INSTALL_COMMAND",
        "TEST_COMMAND",
        "CMAKE_ARGS",
        "CMAKE_CACHE_ARGS",
        "PREFIX",
        "TLS_VERIFY",
        "TLS_CAINFO",
        "FIND_PACKAGE_ARGS",
        "OVERRIDE_FIND_PACKAGE",
        "EXCLUDE_FROM_ALL",
        "SYSTEM",
        "SOURCE_SUBDIR",
        "GIT_SUBMODULES",
        "GIT_REMOTE_NAME",
        "LOG_DOWNLOAD",
        "STEP_TARGETS",
        "DEPENDS",
        "BUILD_BYPRODUCTS",
        "INSTALL_DIR",
        "BUILD_IN_SOURCE",
        "QUIET",
        "SUBBUILD_DIR",
        "UPDATE_DISCONNECTED",
        "USES_TERMINAL_DOWNLOAD",
        "INACTIVITY_TIMEOUT",
        "TIMEOUT",
        "HTTP_HEADER",
        "NETRC",
        "LIST_SEPARATOR",
        "GIT_CONFIG",
        "GIT_REMOTE_UPDATE_STRATEGY",
        "CMAKE_GENERATOR",
    ]
)
_COMMAND_KEYWORDS = frozenset(
    [
        "COMMAND",
        "WORKING_DIRECTORY",
        "TIMEOUT",
        "RESULT_VARIABLE",
        "RESULTS_VARIABLE",
        "OUTPUT_VARIABLE",
        "ERROR_VARIABLE",
        "INPUT_FILE",
        "OUTPUT_FILE",
        "ERROR_FILE",
        "OUTPUT_QUIET",
        "ERROR_QUIET",
        "COMMAND_ECHO",
        "OUTPUT_STRIP_TRAILING_WHITESPACE",
        "ERROR_STRIP_TRAILING_WHITESPACE",
        "ENCODING",
        "ECHO_OUTPUT_VARIABLE",
        "ECHO_ERROR_VARIABLE",
        "COMMAND_ERROR_IS_FATAL",
        "OUTPUT",
        "DEPENDS",
        "BYPRODUCTS",
        "COMMENT",
        "VERBATIM",
        "USES_TERMINAL",
        "MAIN_DEPENDENCY",
        "IMPLICIT_DEPENDS",
        "DEPFILE",
        "JOB_POOL",
        "JOB_SERVER_AWARE",
        "APPEND",
        "COMMAND_EXPAND_LISTS",
        "DEPENDS_EXPLICIT_ONLY",
        "CODEGEN",
        "TARGET",
        "PRE_BUILD",
        "PRE_LINK",
        "POST_BUILD",
        "ALL",
        "SOURCES",
    ]
)
_RUNNERS = frozenset({"execute_process", "add_custom_command", "add_custom_target"})


def analyse_cmake(text: str) -> list[BuildIssue]:
    """Issues in one CMake file, in order of appearance."""
    return list(_Analysis(parse_commands(text)).run())


class _Analysis:
    def __init__(self, commands: list[Command]) -> None:
        self.commands = commands
        self.variables: dict[str, str] = {}
        self.downloaded: list[str] = []

    def run(self) -> Iterator[BuildIssue]:
        for command in self.commands:
            if command.name == "set":
                self._set(command.words())
            elif command.name == "list":
                self._list_get(command.words())
            elif command.name == "file":
                yield from self._file(command)
            elif command.name in _FETCHERS:
                yield from self._fetch(command)
            elif command.name in _RUNNERS:
                yield from self._runner(command)
            elif command.name == "include":
                yield from self._include(command)

    def _set(self, words: list[str]) -> None:
        if not words:
            return
        values: list[str] = []
        for word in words[1:]:
            if word in ("CACHE", "PARENT_SCOPE"):
                break
            values.append(self.expand(word))
        self.variables[words[0]] = ";".join(values)

    def _list_get(self, words: list[str]) -> None:
        """``list(GET <list> <index> <out>)``, the one list operation build files use to pick a pin."""
        if len(words) == 4 and words[0] == "GET" and words[2].lstrip("-").isdigit():
            items = [i for i in self.variables.get(words[1], "").split(";") if i]
            index = int(words[2])
            if -len(items) <= index < len(items):
                self.variables[words[3]] = items[index]

    def expand(self, word: str) -> str:
        """``${NAME}`` replaced by the value set earlier in this file (one level, unknown names kept)."""
        return _VARIABLE.sub(lambda m: self.variables.get(m.group(1), m.group(0)), word)

    def _file(self, command: Command) -> Iterator[BuildIssue]:
        words = command.words()
        if len(words) < 2 or words[0].upper() != "DOWNLOAD":
            return
        url = self.expand(words[1])
        destination = words[2] if len(words) > 2 else ""
        options = {w.upper() for w in words[3:]}
        if options & {"EXPECTED_HASH", "EXPECTED_MD5"}:
            return
        if destination:
            self.downloaded.append(destination)
            base = destination.rsplit("/", 1)[-1]
            if len(base) >= 4 and not base.startswith("${"):
                self.downloaded.append(base)
        file_name = destination.rsplit("/", 1)[-1]
        runnable = not file_name.startswith("${") and _RUNNABLE.search(file_name) is not None
        plain = not url.lower().startswith("https://") and "://" in url
        yield BuildIssue(
            rules.CMAKE_UNVERIFIED_DOWNLOAD,
            Severity.HIGH if runnable or plain else Severity.MEDIUM,
            command.line,
            f"file(DOWNLOAD {url[:160]}) has no EXPECTED_HASH"
            + (" and fetches a script" if runnable else "")
            + (" over an unencrypted connection" if plain else ""),
            {"url": url, "destination": destination},
        )

    def _fetch(self, command: Command) -> Iterator[BuildIssue]:
        words = command.words()
        name = words[0] if words else "?"
        options = _keyword_values(words[1:], _FETCH_KEYWORDS)
        what = f"{command.spelled or command.name}({name})"
        urls = [self.expand(u) for u in options.get("URL", [])]
        remote = [u for u in urls if _REMOTE.match(u) or ("${" in u and "URL" in u.upper())]
        if remote and not (options.get("URL_HASH") or options.get("URL_MD5")):
            yield BuildIssue(
                rules.CMAKE_UNVERIFIED_DEPENDENCY,
                Severity.HIGH,
                command.line,
                f"{what} downloads {remote[0][:160]} without URL_HASH",
                {"url": remote[0], "dependency": name},
            )
        repository = options.get("GIT_REPOSITORY")
        if repository:
            yield from self._git_ref(command, what, self.expand(repository[0]), options.get("GIT_TAG"))
        for step in (
            "DOWNLOAD_COMMAND",
            "PATCH_COMMAND",
            "UPDATE_COMMAND",
            "CONFIGURE_COMMAND",
            "BUILD_COMMAND",
        ):
            argv = [self.expand(w) for w in options.get(step, [])]
            if argv:
                yield from grade_commands([argv], command.line, f"{what} {step}", self.downloaded)

    def _git_ref(
        self, command: Command, what: str, repository: str, tag: list[str] | None
    ) -> Iterator[BuildIssue]:
        evidence = {"repository": repository, "git_tag": tag[0] if tag else None}
        if not tag:
            yield BuildIssue(
                rules.CMAKE_MUTABLE_GIT_REF,
                Severity.MEDIUM,
                command.line,
                f"{what} clones {repository[:160]} at its default branch (no GIT_TAG)",
                evidence,
            )
            return
        ref = self.expand(tag[0])
        if _COMMIT.fullmatch(ref):
            return
        if "${" in ref:
            severity, kind = Severity.LOW, "a variable set outside this file"
        elif _SHORT_COMMIT.fullmatch(ref) or _VERSION_TAG.fullmatch(ref):
            severity, kind = Severity.LOW, "a tag or abbreviated commit"
        else:
            severity, kind = Severity.MEDIUM, "a branch"
        yield BuildIssue(
            rules.CMAKE_MUTABLE_GIT_REF,
            severity,
            command.line,
            f"{what} clones {repository[:160]} at {ref!r}, {kind}, not a full commit hash",
            evidence,
        )

    def _runner(self, command: Command) -> Iterator[BuildIssue]:
        words = [self.expand(w) for w in command.words()]
        pipeline: list[list[str]] = []
        current: list[str] | None = None
        start = 1 if command.name == "add_custom_target" and words and words[0].upper() != "COMMAND" else 0
        for index, word in enumerate(words[start:], start=start):
            upper = word.upper()
            if upper == "COMMAND":
                current = []
                pipeline.append(current)
            elif upper in _COMMAND_KEYWORDS:
                current = None
            elif current is not None:
                current.append(word)
            elif command.name == "add_custom_target" and index == start and upper not in _COMMAND_KEYWORDS:
                current = [word]  # add_custom_target(name cmd args...) without the COMMAND keyword
                pipeline.append(current)
        if command.name != "execute_process":
            for argv in pipeline:
                yield from grade_commands([argv], command.line, command.name, self.downloaded)
        else:
            yield from grade_commands(pipeline, command.line, command.name, self.downloaded)

    def _include(self, command: Command) -> Iterator[BuildIssue]:
        words = command.words()
        if not words:
            return
        target = words[0]
        used = next((d for d in self.downloaded if d and d in target), None)
        if used is not None:
            yield BuildIssue(
                rules.DOWNLOAD_AND_RUN,
                Severity.CRITICAL,
                command.line,
                f"include({target[:160]}) runs CMake code that the build downloaded without a hash",
                {"included": target, "downloaded": used},
            )


def _keyword_values(words: list[str], keywords: frozenset[str]) -> dict[str, list[str]]:
    """``KEY value...`` groups of a keyword-argument command (the first occurrence of each key wins)."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for word in words:
        if word.upper() in keywords and word == word.upper():
            current = [] if word in found else found.setdefault(word, [])
        elif current is not None:
            current.append(word)
    return found
