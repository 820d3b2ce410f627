"""The policy file: what it accepts, and a precise error for everything it does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlvet.errors import ConfigError
from mlvet.provenance.keys import load_verifier
from mlvet.provenance.lineage.policy import EXACT_TOLERANCE, QUANTIZE_TOLERANCE, Tolerance, load_policy
from tests.unit.provenance.lineage.pipeline import Models, write_policy


def test_a_valid_policy_resolves_names_to_keyids(models: Models) -> None:
    policy = load_policy(write_policy(models.directory))
    alice = load_verifier(models.keys.public("alice")).keyid
    bob = load_verifier(models.keys.public("bob")).keyid
    assert policy.required == ("train", "quantize", "convert")
    assert policy.stages["quantize"].signers == (alice, bob)
    assert policy.stages["quantize"].threshold == 2
    assert policy.stages["train"].threshold == 1
    assert policy.key_name(bob) == "bob"
    assert policy.stages["quantize"].equivalence == QUANTIZE_TOLERANCE
    assert policy.stages["convert"].equivalence == EXACT_TOLERANCE
    assert policy.stages["train"].equivalence is None


def test_signers_may_be_keyids_and_keys_may_be_pinned(models: Models) -> None:
    bob = load_verifier(models.keys.public("bob")).keyid
    path = models.directory / "policy.toml"
    path.write_text(
        f"""
[keys.bob]
path = "keys/bob.pub.pem"
keyid = "{bob.upper()}"

[stages.convert]
signers = ["{bob}"]
equivalence = {{ atol = 0.5, rtol = 0, samples = 4 }}
""",
        encoding="utf-8",
    )
    policy = load_policy(path)
    assert policy.stages["convert"].signers == (bob,)
    assert policy.stages["convert"].equivalence == Tolerance(0.5, 0.0, 4)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "[stages.deploy]\nsigners = ['alice']\ntreshold = 1\n",
            r"unknown key stages\.deploy\.treshold \(did you mean 'threshold'\?\)",
        ),
        ("requried = ['train']\n", r"unknown key requried \(did you mean 'required'\?\)"),
        (
            "[stages.deploy]\nsigners = ['carol']\n",
            r"stages\.deploy\.signers names 'carol', which \[keys\] does not declare",
        ),
        (
            "[stages.deploy]\nsigners = ['alice']\nthreshold = 2\n",
            r"stages\.deploy\.threshold must be an integer from 1 to 1",
        ),
        ("[stages.deploy]\nsigners = []\n", r"stages\.deploy\.signers must list at least one key"),
        (
            "[stages.quantize.equivalence]\natl = 1\n",
            r"unknown key stages\.quantize\.equivalence\.atl \(did you mean 'atol'\?\)",
        ),
        (
            "[stages.deploy]\nsigners = ['alice']\nequivalence = { atol = -1 }\n",
            r"equivalence\.atol must be a number >= 0",
        ),
        ("[keys.carol]\npath = 'keys/alice.pub.pem'\n", r"keys\.carol and keys\.alice are the same key"),
        (
            "[keys.carol]\npath = 'keys/carol.pub.pem'\n",
            r"keys\.carol: public key .*carol\.pub\.pem does not exist",
        ),
        ("[keys.carol]\npath = 'keys/bob.pub.pem'\nkeyid = '" + "0" * 64 + "'\n", r"not the pinned 0000"),
        (
            "[keys.carol]\npath = 'keys/carol.pem'\nkey-id = 'x'\n",
            r"unknown key keys\.carol\.key-id \(did you mean 'keyid'\?\)",
        ),
    ],
)
def test_policy_mistakes_name_the_offending_key(models: Models, extra: str, message: str) -> None:
    path = write_policy(models.directory)
    text = path.read_text(encoding="utf-8")
    # top-level keys must precede the first table
    path.write_text(extra + text if not extra.startswith("[") else text + extra, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as caught:
        load_policy(path)
    assert caught.value.hint


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version = 2\n[keys]\na = 'k'\n", "version = 2 is not supported"),
        ("[stages.x]\nsigners = ['a']\n", r"\[keys\] declares no key"),
        (
            "required = ['deploy']\n[keys]\nalice = 'keys/alice.pub.pem'\n"
            "[stages.train]\nsigners = ['alice']\n",
            r"required stage 'deploy' has no \[stages\.deploy\] table",
        ),
        ("[keys\n", "not valid TOML"),
        ("[keys]\nalice = 'keys/alice.key.pem'\n", "holds a private key"),
    ],
)
def test_malformed_policies(models: Models, text: str, message: str) -> None:
    path = models.directory / "policy.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_policy(path)


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"policy .*nowhere\.toml does not exist"):
        load_policy(tmp_path / "nowhere.toml")
