"""What qualified Python names do, for the source analysis: run processes, execute code, talk to the network.

Names are matched after import aliases are resolved (``import os as o; o.system`` is ``os.system``).
Each pattern is a full-match regular expression over the dotted name.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass

from mlvet.findings import Severity


class Behaviour(enum.Enum):
    """A kind of dangerous capability; each maps to one rule of ``python_source``."""

    PROCESS = "process"
    DYNAMIC_CODE = "dynamic-code"
    NETWORK = "network"
    FINGERPRINT = "fingerprint"
    FILESYSTEM = "filesystem"
    DESERIALIZATION = "deserialization"
    REMOTE_CODE = "remote-code"
    CREDENTIALS = "credentials"


@dataclass(frozen=True)
class Capability:
    behaviour: Behaviour
    severity: Severity
    label: str


def _entries(
    behaviour: Behaviour, severity: Severity, label: str, *patterns: str
) -> list[tuple[str, Capability]]:
    return [(pattern, Capability(behaviour, severity, label)) for pattern in patterns]


_P, _D, _N, _F = Behaviour.PROCESS, Behaviour.DYNAMIC_CODE, Behaviour.NETWORK, Behaviour.FINGERPRINT
_W, _S, _R = Behaviour.FILESYSTEM, Behaviour.DESERIALIZATION, Behaviour.REMOTE_CODE
CRITICAL, HIGH, MEDIUM, LOW = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW

_TABLE: list[tuple[str, Capability]] = [
    *_entries(_P, CRITICAL, "runs a shell command", r"(os|posix|nt)\.(system|popen)", r"platform\.popen"),
    *_entries(
        _P, CRITICAL, "replaces or spawns a process", r"(os|posix|nt)\.(exec\w*|spawn\w*|posix_spawnp?)"
    ),
    *_entries(_P, CRITICAL, "starts a process", r"subprocess\.\w+(\.\w+)*", r"pty\.spawn", r"commands\.\w+"),
    *_entries(_P, CRITICAL, "starts a process", r"asyncio\.create_subprocess_(exec|shell)", r"os\.startfile"),
    *_entries(_P, CRITICAL, "installs packages at run time", r"pip\.main", r"pip\._internal\.\w+(\.\w+)*"),
    *_entries(_D, HIGH, "executes dynamically built code", r"builtins\.(exec|eval|execfile)"),
    *_entries(_D, HIGH, "compiles dynamically built code", r"builtins\.compile"),
    *_entries(
        _D, HIGH, "imports a module chosen at run time", r"builtins\.__import__", r"importlib\.import_module"
    ),
    *_entries(_D, HIGH, "imports a module chosen at run time", r"importlib\.__import__"),
    *_entries(
        _D,
        HIGH,
        "loads code from a file path",
        r"importlib\.util\.spec_from_file_location",
        r"importlib\.machinery\.(SourceFileLoader|SourcelessFileLoader)",
        r"runpy\.run_(path|module)",
        r"imp\.load_(source|compiled|module)",
    ),
    *_entries(_D, HIGH, "deserializes code objects", r"marshal\.loads?"),
    *_entries(_D, HIGH, "builds functions from code objects", r"types\.(CodeType|FunctionType)"),
    *_entries(
        _D,
        HIGH,
        "loads native code",
        r"ctypes\.(CDLL|PyDLL|WinDLL|OleDLL|cdll|pydll|windll|oledll)(\.\w+)*",
        r"ctypes\.util\.find_library",
        r"cffi\.FFI",
    ),
    *_entries(
        _D,
        HIGH,
        "starts an interactive interpreter",
        r"code\.(interact|InteractiveConsole|InteractiveInterpreter)",
    ),
    *_entries(
        _N,
        HIGH,
        "opens network connections",
        r"socket\.(socket|create_connection|create_server|socketpair|fromfd)(\.\w+)*",
        r"urllib\.request\.(urlopen|urlretrieve|build_opener|OpenerDirector|Request)(\.\w+)*",
        r"urllib\.(urlopen|urlretrieve)",
        r"urllib2\.(urlopen|build_opener|Request)(\.\w+)*",
        r"urllib3\.(PoolManager|ProxyManager|HTTPConnectionPool|HTTPSConnectionPool|request)(\.\w+)*",
        r"requests\.(get|post|put|patch|delete|head|options|request|Session|session)(\.\w+)*",
        r"requests\.(api|sessions)\.\w+(\.\w+)*",
        r"(http\.client|httplib)\.(HTTPConnection|HTTPSConnection)(\.\w+)*",
        r"httpx\.(get|post|put|patch|delete|head|options|request|stream|Client|AsyncClient)(\.\w+)*",
        r"aiohttp\.(ClientSession|request|TCPConnector)(\.\w+)*",
        r"ftplib\.FTP\w*(\.\w+)*",
        r"smtplib\.(SMTP|SMTP_SSL|LMTP)(\.\w+)*",
        r"(telnetlib\.Telnet|poplib\.POP3\w*|imaplib\.IMAP4\w*|nntplib\.NNTP\w*)(\.\w+)*",
        r"paramiko\.(SSHClient|Transport|SFTPClient)(\.\w+)*",
        r"(websocket|websockets)\.(create_connection|connect|WebSocket\w*|serve)(\.\w+)*",
        r"pycurl\.Curl(\.\w+)*",
        r"xmlrpc\.client\.ServerProxy(\.\w+)*",
        r"webbrowser\.open\w*",
        r"torch\.hub\.download_url_to_file",
        r"socket\.(gethostbyname|getaddrinfo|gethostbyaddr)",
    ),
    *_entries(
        _N,
        MEDIUM,
        "downloads files from the Hugging Face Hub",
        r"huggingface_hub\.(hf_hub_download|snapshot_download|cached_download|hf_hub_url)",
        r"huggingface_hub\.(file_download|_snapshot_download)\.\w+",
        r"transformers\.utils\.(hub\.)?cached_file",
        r"torch\.hub\.load_state_dict_from_url",
    ),
    *_entries(
        _F,
        HIGH,
        "reads the machine's identity",
        r"uuid\.getnode",
        r"getmac\.\w+",
        r"netifaces\.\w+",
        r"psutil\.net_if_addrs",
        r"socket\.(gethostname|getfqdn)",
        r"platform\.(node|uname)",
        r"os\.(uname|getlogin)",
        r"getpass\.getuser",
        r"pwd\.getpw\w+",
    ),
    *_entries(_F, MEDIUM, "creates an identifier that embeds the MAC address", r"uuid\.uuid1"),
    *_entries(
        _W,
        MEDIUM,
        "deletes files",
        r"os\.(remove|unlink|rmdir|removedirs)",
        r"shutil\.rmtree",
        r"pathlib\.\w*Path\.(unlink|rmdir)",
    ),
    *_entries(
        _W, MEDIUM, "changes file permissions or ownership", r"os\.(chmod|chown|lchown)", r"shutil\.chown"
    ),
    *_entries(
        _S,
        HIGH,
        "unpickles data (runs arbitrary code)",
        r"(pickle|cPickle|_pickle|dill|cloudpickle)\.(loads?|Unpickler)",
        r"joblib\.load",
        r"pandas\.read_pickle",
        r"shelve\.open",
        r"jsonpickle\.(decode|loads?)",
        r"yaml\.unsafe_load(_all)?",
        r"numpy\.core\.multiarray\._reconstruct",
    ),
    *_entries(_R, HIGH, "runs code from a model hub repository", r"torch\.hub\.load"),
    *_entries(
        _R,
        HIGH,
        "loads custom code from another repository",
        r"transformers\.dynamic_module_utils\.get_class_from_dynamic_module",
    ),
]

_COMPILED: list[tuple[re.Pattern[str], Capability]] = [(re.compile(p), c) for p, c in _TABLE]

DECODERS = re.compile(
    r"base64\.\w*decode\w*|binascii\.(a2b_\w+|unhexlify)|codecs\.decode|zlib\.decompress|gzip\.decompress"
    r"|bz2\.decompress|lzma\.decompress|marshal\.loads?|bytes\.fromhex|builtins\.bytes\.fromhex"
)
"""Calls whose result is data that was hidden in the source."""
CLOCKS = re.compile(
    r"time\.(time|time_ns|localtime|gmtime|ctime)|datetime\.(datetime\.)?(now|today|utcnow)|datetime\.date\.today"
)
"""Calls that read the wall clock (time bombs compare them to constants)."""
DATE_CONSTRUCTORS = re.compile(
    r"datetime\.(datetime|date)(\.fromisoformat|\.strptime)?|time\.(mktime|strptime)"
)
SECRET_NAME = re.compile(
    r"(?:^|_)(?:TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?|AUTH|COOKIE|APIKEY)(?:_|$)"
    r"|(?:API|ACCESS|PRIVATE|SECRET|SIGNING)_?KEY|^AWS_|^SSH_",
    re.IGNORECASE,
)
"""Environment variable names that hold credentials (``HF_TOKEN``, not ``TOKENIZERS_PARALLELISM``)."""
SENSITIVE_PATH = re.compile(
    r"\.bashrc|\.bash_profile|\.profile|\.zshrc|\.ssh|authorized_keys|/etc/|crontab|site-packages|\.pth$"
    r"|sitecustomize|usercustomize|/usr/|\.config/autostart|systemd|\.aws/|\.kube/|\.git/hooks",
)
CREDENTIAL_PATH = re.compile(
    r"\.aws/(credentials|config)|\.ssh/(id_\w+|identity|config)|\.ssh/?$|\.netrc$|\.pypirc"
    r"|\.git-credentials|\.docker/config\.json|\.kube/config|\.config/gcloud|\.azure/|\.gnupg"
    r"|/etc/shadow|\.bash_history|\.zsh_history|wallet\.dat|\.ethereum/keystore|\.electrum"
    r"|Login Data|Cookies$|Local State|\.mozilla/firefox|logins\.json|key[34]\.db|Local Storage/leveldb",
    re.IGNORECASE,
)
"""Files that hold credentials, keys, browser logins or wallets (what stealers read and send away)."""
FILE_ACCESS = re.compile(
    r"builtins\.open|io\.open|codecs\.open|os\.(open|listdir|scandir|walk|stat)"
    r"|os\.path\.(expanduser|expandvars|join|exists|isfile|isdir)|shutil\.(copy\w*|move|make_archive)"
    r"|glob\.i?glob|sqlite3\.connect|pathlib\.\w*Path(\.\w+)*|tarfile\.open|zipfile\.ZipFile"
)
"""Calls that open, list, copy or locate files (the ones whose path arguments are checked)."""
PATH_METHODS = frozenset(
    {"read_text", "read_bytes", "open", "exists", "glob", "rglob", "iterdir", "joinpath"}
)
REFERENCED_DANGER = re.compile(
    r"(os|posix|nt)\.(system|popen|exec\w*|spawn\w*)|pty\.spawn|builtins\.(exec|eval)"
    r"|subprocess\.(Popen|run|call|check_call|check_output|getoutput|getstatusoutput)"
)
"""Dangerous callables that are worth reporting even when only referenced (``map(os.system, cmds)``)."""
WATCHED_MODULES = frozenset(
    {
        "os", "posix", "nt", "subprocess", "pty", "builtins", "sys", "importlib", "socket", "shutil",
        "ctypes", "marshal", "pickle", "runpy", "code", "platform", "uuid", "getpass", "requests", "urllib",
    }
)  # fmt: skip
"""Modules whose attributes fetched by a computed name are a way to hide a dangerous call."""


@functools.lru_cache(maxsize=4096)
def capability(name: str) -> Capability | None:
    """What calling the qualified ``name`` does, when it is dangerous."""
    for pattern, found in _COMPILED:
        if pattern.fullmatch(name):
            return found
    return None
