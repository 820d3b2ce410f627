from __future__ import annotations

import os
from pathlib import Path

from mlvet.env.audit.assess import confusion_findings, index_findings, insecure_index_findings, merging
from mlvet.env.audit.indexes import apply_uv_table, pip_config, pip_config_files, redact, uv_config
from mlvet.env.audit.requirements import Pin
from mlvet.findings import Severity


def pip_conf(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_pip_reads_global_user_site_then_the_config_file_variable(tmp_path: Path) -> None:
    env = {
        "HOME": str(tmp_path),
        "XDG_CONFIG_DIRS": str(tmp_path / "xdg"),
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
    }
    files = pip_config_files(prefix=tmp_path / "venv", environ=env)
    assert files == [
        tmp_path / "xdg" / "pip" / "pip.conf",
        Path("/etc/pip.conf"),
        tmp_path / ".pip" / "pip.conf",
        tmp_path / "cfg" / "pip" / "pip.conf",
        tmp_path / "venv" / "pip.conf",
    ]
    chosen = pip_conf(tmp_path / "chosen.conf", "[global]\n")
    with_file = pip_config_files(prefix=tmp_path / "venv", environ={**env, "PIP_CONFIG_FILE": str(chosen)})
    assert with_file[-1] == chosen and tmp_path / ".pip" / "pip.conf" not in with_file  # pip skips user files
    assert Path(os.devnull) not in pip_config_files(environ={**env, "PIP_CONFIG_FILE": os.devnull})


def test_later_files_and_variables_override_earlier_ones(tmp_path: Path) -> None:
    first = pip_conf(tmp_path / "global.conf", "[global]\nindex-url = https://mirror.example.com/simple\n")
    second = pip_conf(
        tmp_path / "user.conf",
        "[global]\nextra-index-url =\n    https://pkgs.corp.example.com/simple\n    https://download.pytorch.org/whl/cu121\n"
        "[install]\nfind-links = /srv/wheels\n",
    )
    config = pip_config(environ={}, files=[first, second])
    assert [(e.url, e.role) for e in config.effective()] == [
        ("https://mirror.example.com/simple", "index"),
        ("https://pkgs.corp.example.com/simple", "extra"),
        ("https://download.pytorch.org/whl/cu121", "extra"),
        ("/srv/wheels", "find-links"),
    ]
    assert config.entries[1].origin == f"{second} [global]" and config.read == [str(first), str(second)]
    overridden = pip_config(
        environ={"PIP_EXTRA_INDEX_URL": "https://other.example.com/simple"}, files=[second]
    )
    assert [e.url for e in overridden.effective() if e.role == "extra"] == [
        "https://other.example.com/simple"
    ]


def test_an_unparsable_pip_conf_is_reported_not_ignored(tmp_path: Path) -> None:
    broken = pip_conf(tmp_path / "pip.conf", "index-url = no section header\n")
    config = pip_config(environ={}, files=[broken])
    assert config.unreadable and config.unreadable[0][0] == str(broken)


def test_one_index_is_not_a_merge_and_extra_index_url_is(tmp_path: Path) -> None:
    single = pip_config(environ={"PIP_INDEX_URL": "https://mirror.example.com/simple"}, files=[])
    assert not merging(single) and index_findings(single) == []
    extra = pip_config(environ={"PIP_EXTRA_INDEX_URL": "https://pkgs.corp.example.com/simple"}, files=[])
    assert merging(extra)
    (finding,) = index_findings(extra)
    assert finding.rule.id == "MLV2202" and finding.severity is Severity.HIGH
    assert finding.subject.path == "PIP_EXTRA_INDEX_URL"
    no_index = pip_config(
        environ={"PIP_EXTRA_INDEX_URL": "https://a.example/simple", "PIP_NO_INDEX": "1"}, files=[]
    )
    assert not merging(no_index)


def test_a_known_ml_index_names_the_installed_packages_it_serves() -> None:
    config = pip_config(environ={"PIP_EXTRA_INDEX_URL": "https://download.pytorch.org/whl/cpu"}, files=[])
    (finding,) = index_findings(config, ["numpy", "torch", "torchvision"])
    assert finding.severity is Severity.MEDIUM
    assert finding.evidence["packages"] == ["torch", "torchvision"] and "PyTorch index" in finding.message


def test_confusion_names_each_package_and_the_hash_protects() -> None:
    config = pip_config(
        environ={"PIP_EXTRA_INDEX_URL": "https://download.pytorch.org/whl/nightly/cpu"}, files=[]
    )
    pins = [
        Pin("torchtriton", "torchtriton", "requirements.txt", 3),
        Pin("torch", "torch==2.5.1", "requirements.txt", 4, version="2.5.1"),
        Pin(
            "torchvision",
            "torchvision==0.20.1",
            "requirements.txt",
            5,
            version="0.20.1",
            hashes=("sha256:ab",),
        ),
    ]
    findings = {f.evidence["package"]: f for f in confusion_findings(config, pins)}
    assert set(findings) == {"torchtriton", "torch"}
    assert (
        findings["torchtriton"].severity is Severity.HIGH
        and "torchtriton attack" in findings["torchtriton"].message
    )
    assert findings["torch"].severity is Severity.MEDIUM and findings["torch"].location.line == 4


def test_uv_first_index_is_safe_and_unsafe_best_match_is_not(tmp_path: Path) -> None:
    table = {
        "index": [{"name": "corp", "url": "https://pkgs.corp.example.com/simple"}],
        "index-strategy": "unsafe-best-match",
    }
    config = uv_config(environ={}, files=[])
    apply_uv_table(config, {**table, "index-strategy": "first-index"}, "pyproject.toml [tool.uv]")
    assert not merging(config)
    risky = uv_config(project_settings=[(table, "pyproject.toml [tool.uv]")], environ={}, files=[])
    assert risky.strategy == "unsafe-best-match" and merging(risky)
    (finding,) = confusion_findings(risky, [Pin("acme-internal", "acme-internal", "pyproject.toml")])
    assert finding.rule.id == "MLV2201" and finding.evidence["strategy"] == "unsafe-best-match"
    assert "internal name" in finding.message
    from_env = uv_config(environ={"UV_INDEX_STRATEGY": "unsafe-first-match"}, files=[])
    assert from_env.strategy == "unsafe-first-match" and from_env.strategy_origin == "UV_INDEX_STRATEGY"


def test_uv_toml_files_and_a_non_explicit_pytorch_index(tmp_path: Path) -> None:
    uv_toml = pip_conf(
        tmp_path / "uv.toml",
        '[[index]]\nname = "pytorch"\nurl = "https://download.pytorch.org/whl/cu124"\n\n'
        '[[index]]\nname = "pytorch-explicit"\nurl = "https://download.pytorch.org/whl/cu126"\nexplicit = true\n',  # noqa: E501
    )
    config = uv_config(environ={}, files=[uv_toml])
    assert [(e.name, e.explicit) for e in config.entries] == [("pytorch", False), ("pytorch-explicit", True)]
    (finding,) = index_findings(config)
    assert (
        finding.severity is Severity.LOW
        and "'pytorch'" in finding.message
        and "not explicit" in finding.message
    )


def test_credentials_are_redacted_and_plain_http_is_flagged() -> None:
    assert redact("https://bob:hunter2@pkgs.example.com/simple") == (
        "https://bob:***@pkgs.example.com/simple",
        True,
    )
    config = pip_config(
        environ={
            "PIP_EXTRA_INDEX_URL": "http://pkgs.example.com/simple https://bob:hunter2@secure.example.com/simple"
        },
        files=[],
    )
    findings = insecure_index_findings(config.entries)
    assert sorted(f.evidence["issue"] for f in findings) == ["credentials-in-url", "plain-http"]
    assert all("hunter2" not in f.message for f in findings)
    assert (
        insecure_index_findings(
            pip_config(environ={"PIP_INDEX_URL": "http://localhost:8080/simple"}, files=[]).entries
        )
        == []
    )
