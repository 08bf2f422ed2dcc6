"""The parity corpus: each inventory under corpus/, the --limit patterns tried on it, and
where certaudit differs from Ansible on purpose (with the reason and the warning that
says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"


@dataclass(frozen=True)
class Deliberate:
    """A difference kept on purpose: these fields of this host are not compared, and
    certaudit must warn, naming the file and line."""

    host: str
    fields: tuple[str, ...]
    reason: str
    warning: tuple[str, int, str]
    """(file relative to the case folder, line, a fragment of the warning)."""


@dataclass(frozen=True)
class Case:
    name: str
    source: str
    """The inventory inside corpus/NAME/: a file, or "." for the folder itself."""
    covers: str
    limits: tuple[str, ...] = ()
    deliberate: tuple[Deliberate, ...] = ()
    absent: tuple[str, ...] = ()
    """Hosts Ansible has and certaudit deliberately does not: from scripts it never runs,
    or the byte order mark Ansible reads as a host name."""
    warnings: tuple[tuple[str, int | None, str], ...] = ()
    """Further warnings certaudit must give: (file, line, fragment)."""

    @property
    def folder(self) -> Path:
        return CORPUS / self.name

    @property
    def path(self) -> Path:
        return self.folder if self.source == "." else self.folder / self.source


_LIMITS_MAIN = (
    "all",
    "*",
    "webservers",
    "web01.example.com",
    "webservers:dbservers",
    "webservers,dbservers",
    "webservers:!phoenix",
    "webservers:&staging",
    "webservers:dbservers:&staging:!phoenix",
    "!staging",
    "&staging",
    "prod:!webservers",
    "*.example.com",
    "web0*.example.com",
    "one*.com:dbservers",
    "192.0.2.*",
    r"~(web|db).*\.example\.com",
    "~web0[1-3]:!web02.example.com",
    "~web0[1-3].*,!web02.example.com",
    "webservers[0]",
    "webservers[-1]",
    "webservers[1:2]",
    "webservers[1:]",
    "prod[0]",
    "prod[-1]",
    "prod[2:4]",
    "all[-1]",
    "all[0]",
    "webservers,nosuch",
    "nosuch",
    "2001:db8::1",
    "2001:db8::1,192.0.2.50",
    "edge:!2001:db8::2",
    "edge,!2001:db8::2",
    "[2001:db8::1]",
    "@{folder}/limit.txt",
    "@{folder}/limit_bad.txt",
    "webservers:!webservers[0:1]",
    "mail",
    "all:!mail",
    "mail[0]",
    "web*:!*03*",
    "~^db",
    r"~.*\.com$",
    "ungrouped",
    "ungrouped:webservers",
    "staging:&phoenix",
    "webservers:&nosuch",
    "webservers:!nosuch",
    "WEB01.example.com",
    "web0?.example.com",
    "web0[12].example.com",
    "web0[!12].example.com",
    " webservers , dbservers ",
    "webservers,,dbservers",
    "!webservers:!dbservers",
    "prod:&webservers:&staging",
    "&webservers:&staging",
    "~[unclosed",
    "webservers[5]",
    "webservers[1-2]",
    "webservers[10:]",
    "prod:ungrouped",
    "bastion.example.com:edge",
    "web01.example.com:web01.example.com",
    "192.0.2.11",
    "all:&edge",
    "*:!prod",
    "?ail",
    "m*[0]",
    "m*[-1]",
    "m*[1:2]",
)

_LIMITS_SHORT = (
    "dc[0]",
    "dc[1:3]",
    "dc[-1]",
    "all[-1]",
    "all[0]",
    "web[1:]",
    "~web0[1-3]:!web02",
    "~web0[1-3],!web02",
    "web0[1-3]",
    "web1*",
    "~web1",
    "!web",
    "dc:!dc[0]",
    "web,nosuch",
    "web:&dc:!web[0]",
    "db[0]:web[-1]",
)

CASES: tuple[Case, ...] = (
    Case("ini_basic", "hosts", "INI: ungrouped hosts, host:port, children, :vars, comments"),
    Case("ini_ranges", "hosts", "ranges: zero-padded, letters, steps, several in one name"),
    Case("ini_legacy_names", "hosts", "ansible_ssh_* beat the modern names at any level"),
    Case("ini_duplicate_port", "hosts", "a host defined twice keeps its first host:port"),
    Case(
        "ini_host_named_like_group",
        "hosts",
        "a host named like its group",
        limits=("mail", "all:!mail", "mail:!mx1", "mail[0]", "web:&mail", "mail[-1]"),
    ),
    Case(
        "ini_host_before_group",
        "hosts",
        "variables of a host named like a group defined later stay with the host",
    ),
    Case(
        "ini_children_order",
        "hosts",
        "a group's own hosts first, then its children in the order listed",
        limits=(
            "prod[0]",
            "prod[1:3]",
            "all[-1]",
            "prod[-1]",
            "all[0]",
            "staging[1]",
            "prod[2:]",
        ),
    ),
    Case("dir_pending_children", ".", "[prod:children] naming a group of a later file"),
    Case("dir_vars_later_file", ".", "[web:vars] for a group of a later file"),
    Case("ini_inline_comments", "hosts", "text after # in [g:vars] is part of the value"),
    Case("ini_booleans", "hosts", "ansible_become spellings, and values that are not booleans"),
    Case("ini_ipv6", "hosts", "IPv6: bare, [addr]:port, ansible_host, ranges"),
    Case(
        "ini_bom_crlf",
        "hosts",
        "a byte order mark and CRLF line ends",
        absent=("\ufeff",),
        warnings=(("hosts", 1, "byte order mark removed"),),
    ),
    Case("ini_precedence", "hosts", "all < parent < child < host; siblings by priority, name"),
    Case("ini_group_priority", "hosts", "ansible_group_priority and group depth"),
    Case("vars_files_ext", "hosts", "group_vars/host_vars: no extension, .yml, .yaml, .json, dirs"),
    Case("vars_legacy_levels", "hosts", "legacy names in group_vars beat modern ones in host_vars"),
    Case("yaml_basic", "hosts.yml", "YAML: nested children, vars, host:port, ranges"),
    Case("yaml_plain_strings", "hosts.yml", "YAML: `hosts: name` and `children: name`"),
    Case("yaml_legacy", "hosts.yml", "YAML: legacy names"),
    Case("yaml_types", "hosts.yml", "YAML: ports and booleans as text, numbers, floats"),
    Case("yaml_edge_values", "hosts.yml", "empty user, key and host; ports and booleans as text"),
    Case("yaml_json", "hosts.json", "a JSON inventory"),
    Case("toml_basic", "hosts.toml", "a TOML inventory: hosts, vars, children, host:port"),
    Case("yml_with_ini", "hosts.yml", "INI text in a .yml file: read as INI once YAML fails"),
    Case(
        "dir_plugin_config",
        ".",
        "inventory plugin configurations are never run",
        warnings=(("20-constructed.yml", None, "inventory plugins are never run"),),
    ),
    Case("yaml_merge", "hosts.yml", "YAML anchors and << merges"),
    Case("yaml_top_level_groups", "hosts.yml", "YAML: groups at the top level"),
    Case("dir_mixed", ".", "a folder: INI, YAML, subfolder, ignored extensions, vars dirs"),
    Case("ini_bad_range", "hosts", "web[3:1]: a range that runs backwards"),
    Case("ini_port_name", "hosts", "ansible_port=ssh and 70000 fail that host only"),
    Case("ini_section_semicolon", "hosts", "[web] ; comment is not a section header"),
    Case("ini_section_hash", "hosts", "[web] # comment is"),
    Case("ini_values", "hosts", "quoted values, ~ in key files, list literals"),
    Case("ini_all_section", "hosts", "[all], [ungrouped] and [all:vars]"),
    Case("ini_same_host_multi_groups", "hosts", "one host in several groups, vars per line"),
    Case("ini_deep_nesting", "hosts", "depth beats an unrelated shallower group"),
    Case("ini_ungrouped", "hosts", "ungrouped hosts that are later put in a group"),
    Case("ini_localhost", "hosts", "localhost and 127.0.0.1 as inventory hosts"),
    Case(
        "deliberate_templates",
        "hosts",
        "Jinja2 templates are never rendered",
        deliberate=(
            Deliberate(
                "w1",
                ("address", "port"),
                "certaudit does not render templates: the host name and ssh's default "
                "port are used, and the warning says so",
                ("hosts", 2, "Jinja2 template"),
            ),
            Deliberate(
                "w2",
                ("user", "port"),
                "the same, for ansible_user",
                ("hosts", 3, "Jinja2 template"),
            ),
        ),
        warnings=(("hosts", 5, "ansible_port: it is a Jinja2 template"),),
    ),
    Case(
        "deliberate_vault",
        "hosts.yml",
        "vault values and secrets are never used",
        deliberate=(
            Deliberate(
                "v1",
                ("user",),
                "certaudit never decrypts vault values",
                ("hosts.yml", 5, "vault-encrypted"),
            ),
        ),
        warnings=(
            ("hosts.yml", 10, "ansible_password ignored"),
            ("hosts.yml", 11, "ansible_become_password ignored"),
        ),
    ),
    Case(
        "deliberate_script",
        ".",
        "dynamic-inventory scripts are never executed",
        absent=("s1",),
        warnings=(("20-dynamic.sh", None, "scripts are never executed"),),
    ),
    Case("limits", "hosts", "the --limit forms Ansible documents", limits=_LIMITS_MAIN),
    Case(
        "limits_short",
        "hosts",
        "--limit on a group with own hosts and children",
        limits=_LIMITS_SHORT,
    ),
)
